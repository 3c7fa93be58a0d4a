// GPU packing (artifact's GpuPacking): first fill partly used GPUs, then free GPUs on used nodes,
// then free nodes; CPU-only tasks score alike everywhere.
import { type GpuFleet } from '../../scheduler/core/placement/fleet.ts';
import { type PreparedTask } from '../../scheduler/core/placement/filter.ts';
import { TaskKind } from '../../scheduler/core/placement/task.ts';
import { GPU_MILLI } from '../../scheduler/core/placement/units.ts';
import { argmaxByRank, tieRanks, bestGpus, choice } from './common.ts';
import { type PolicyFactory } from './policy.ts';

export function packingScore(fleet: GpuFleet, n: number, task: PreparedTask): number {
  if (task.kind === TaskKind.Cpu) return 0;
  const count = fleet.gpuCount[n]!;
  const o = fleet.gpuOffset[n]!;
  const lefts = Array.from(fleet.gpuLeft.subarray(o, o + count));
  const free = lefts.filter((l) => l === GPU_MILLI).length;
  if (free === count) return Math.max(33 - free, free);
  const order = lefts.map((_, i) => i).sort((a, b) => lefts[a]! - lefts[b]!);
  let need = task.task.gpuCount;
  let freeUsed = 0;
  let freeRatio = 0;
  for (const g of order) {
    if (need === 0) break;
    const l = lefts[g]!;
    if (l >= task.task.gpuMilli) {
      need--;
      if (l === GPU_MILLI) freeUsed++;
      freeRatio += Math.trunc((l * 100) / GPU_MILLI);
    }
  }
  if (freeUsed > 0) return Math.max(50 - freeUsed, 33);
  return Math.max(100 - Math.trunc(freeRatio / 10), 50);
}

export const packingPolicy: PolicyFactory = ({ fleet, rng }) => {
  const rank = tieRanks(fleet.size, rng);
  return {
    place(task) {
      const n = argmaxByRank(fleet, task, rank, (node) => packingScore(fleet, node, task));
      return n < 0 ? null : choice(n, bestGpus(fleet, n, task));
    },
  };
};
