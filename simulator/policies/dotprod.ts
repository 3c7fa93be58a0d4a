// DotProd (Tetris-style, as the artifact configures it: CPU and total GPU merged into one vector,
// normalised by the largest node spec): the smaller the dot product of the node's free vector
// and the task's demand, the higher the score.
import { totalGpuMilli } from '../../scheduler/core/placement/task.ts';
import { MAX_SPEC_CPU_MILLI, MAX_SPEC_GPU_MILLI } from './specs.ts';
import { argmaxByRank, tieRanks, bestGpus, choice } from './common.ts';
import { type PolicyFactory } from './policy.ts';

export const dotProdPolicy: PolicyFactory = ({ fleet, frag, rng }) => {
  const rank = tieRanks(fleet.size, rng);
  return {
    place(task) {
      const pc = task.task.cpuMilli / MAX_SPEC_CPU_MILLI;
      const pg = totalGpuMilli(task.task) / MAX_SPEC_GPU_MILLI;
      const n = argmaxByRank(fleet, task, rank, (node) => {
        const dot =
          (fleet.cpuLeft[node]! / MAX_SPEC_CPU_MILLI) * pc + (frag.freeMilli(node) / MAX_SPEC_GPU_MILLI) * pg;
        return Math.trunc(100 * (1 - dot / 2));
      });
      return n < 0 ? null : choice(n, bestGpus(fleet, n, task));
    },
  };
};
