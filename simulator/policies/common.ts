// Pieces the artifact's baselines share: its tie-break among the best scores, and its GPU
// choices inside a node ("best": the tightest GPU that fits; whole GPUs: the
// first free ones by index).
import { Misfit, type PreparedTask, misfit } from '../../scheduler/core/placement/filter.ts';
import { type GpuFleet } from '../../scheduler/core/placement/fleet.ts';
import { TaskKind, type TaskRequest } from '../../scheduler/core/placement/task.ts';
import { type Rng } from '../rng.ts';
import { type Choice } from './policy.ts';

/**
 * A per-run random priority over the nodes. The artifact's patched kube-scheduler breaks equal
 * scores by node name and the simulator prefixes every node name with a random permutation, so
 * ties go to a fixed, randomly ordered set of nodes rather than to a fresh random pick each time.
 */
export function tieRanks(size: number, rng: Rng): Int32Array {
  const order = rng.shuffle(Array.from({ length: size }, (_, i) => i));
  const rank = new Int32Array(size);
  order.forEach((n, r) => {
    rank[n] = r;
  });
  return rank;
}

/** Highest score wins; equal scores go to the node of lowest rank. `score` returns NaN to skip a node. */
export function argmaxByRank(
  fleet: GpuFleet,
  task: PreparedTask,
  rank: Int32Array,
  score: (n: number) => number,
): number {
  let best = -Infinity;
  let chosen = -1;
  for (let n = 0; n < fleet.size; n++) {
    if (misfit(fleet, n, task) !== Misfit.None) continue;
    const s = score(n);
    if (Number.isNaN(s)) continue;
    if (s > best || (s === best && rank[n]! < rank[chosen]!)) {
      best = s;
      chosen = n;
    }
  }
  return chosen;
}

/** Any node that fits, uniformly at random (the artifact's RandomScore). */
export function randomFeasible(fleet: GpuFleet, task: PreparedTask, rng: Rng): number {
  let chosen = -1;
  let seen = 0;
  for (let n = 0; n < fleet.size; n++) {
    if (misfit(fleet, n, task) !== Misfit.None) continue;
    seen++;
    if (rng.int(seen) === 0) chosen = n;
  }
  return chosen;
}

// GPU choices ask the fleet whether a GPU can take the task (GpuFleet.takes, the one fit rule).

export function bestFitGpu(fleet: GpuFleet, n: number, task: TaskRequest): number {
  const o = fleet.gpuOffset[n]!;
  let pick = -1;
  let pickLeft = Infinity;
  for (let g = 0; g < fleet.gpuCount[n]!; g++) {
    const l = fleet.gpuLeft[o + g]!;
    if (l < pickLeft && fleet.takes(n, g, task)) {
      pick = g;
      pickLeft = l;
    }
  }
  return pick;
}

export function randomFitGpu(fleet: GpuFleet, n: number, task: TaskRequest, rng: Rng): number {
  let pick = -1;
  let seen = 0;
  for (let g = 0; g < fleet.gpuCount[n]!; g++) {
    if (fleet.takes(n, g, task)) {
      seen++;
      if (rng.int(seen) === 0) pick = g;
    }
  }
  return pick;
}

export function firstWholeGpus(fleet: GpuFleet, n: number, task: TaskRequest): number[] {
  const out: number[] = [];
  for (let g = 0; g < fleet.gpuCount[n]! && out.length < task.gpuCount; g++) {
    if (fleet.takes(n, g, task)) out.push(g);
  }
  return out;
}

/** The node's GPUs for the task with the artifact's default "best" GPU selection. */
export function bestGpus(fleet: GpuFleet, n: number, task: PreparedTask): number[] {
  if (task.kind === TaskKind.Cpu) return [];
  if (task.kind === TaskKind.Share) return [bestFitGpu(fleet, n, task.task)];
  return firstWholeGpus(fleet, n, task.task);
}

export function choice(node: number, gpus: readonly number[]): Choice | null {
  return node < 0 ? null : { node, gpus };
}
