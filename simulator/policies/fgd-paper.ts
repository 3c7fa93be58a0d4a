// FGD as the paper's artifact runs it: score = ⌊100·sigmoid(−Δfrag/1000)⌋ where Δfrag is the
// node's fragmentation increase (GPU milli) against the target workload; the best node wins,
// ties going to the node first in a per-run random order (see tieRanks). Inside the node, a share goes to the first GPU with the best score;
// whole GPUs are the first free ones. The integer score is the artifact's, kept for fidelity.
import { TaskKind } from '../../scheduler/core/placement/task.ts';
import { argmaxByRank, tieRanks, choice, firstWholeGpus } from './common.ts';
import { type PolicyFactory } from './policy.ts';

/** An earlier GPU of the node with the same leftover already scored the same and wins ties. */
function seenBefore(left: Int32Array, o: number, g: number, l: number): boolean {
  for (let h = 0; h < g; h++) if (left[o + h] === l) return true;
  return false;
}

function score(before: number, after: number): number {
  return Math.trunc(100 / (1 + Math.exp(-(before - after) / 1000)));
}

export const fgdPaperPolicy: PolicyFactory = ({ fleet, frag, rng }) => {
  const rank = tieRanks(fleet.size, rng);
  const gpuOf = new Int32Array(fleet.size);
  return {
    place(task) {
      const t = task.task;
      const n = argmaxByRank(fleet, task, rank, (node) => {
        const before = frag.nodeFrag(node);
        if (task.kind === TaskKind.Cpu) return score(before, frag.after(node, t.cpuMilli, -1, -1, 0));
        if (task.kind === TaskKind.Whole)
          return score(before, frag.after(node, t.cpuMilli, -1, -1, t.gpuCount));
        const o = fleet.gpuOffset[node]!;
        let best = -1;
        let bestGpu = -1;
        for (let g = 0; g < fleet.gpuCount[node]!; g++) {
          const l = fleet.gpuLeft[o + g]!;
          if (!fleet.takes(node, g, t) || seenBefore(fleet.gpuLeft, o, g, l)) continue;
          const s = score(before, frag.after(node, t.cpuMilli, l, l - t.gpuMilli, 0));
          if (s > best) {
            best = s;
            bestGpu = g;
          }
        }
        gpuOf[node] = bestGpu;
        return best;
      });
      if (n < 0) return null;
      if (task.kind === TaskKind.Cpu) return choice(n, []);
      if (task.kind === TaskKind.Whole) return choice(n, firstWholeGpus(fleet, n, t));
      return choice(n, [gpuOf[n]!]);
    },
  };
};
