// BestFit: the node left with the least CPU and GPU after placing (equal weights, normalised by
// the largest node spec).
import { totalGpuMilli } from '../../scheduler/core/placement/task.ts';
import { argmaxByRank, tieRanks, bestGpus, choice } from './common.ts';
import { type PolicyFactory } from './policy.ts';
import { MAX_SPEC_CPU_MILLI, MAX_SPEC_GPU_MILLI } from './specs.ts';

export const bestFitPolicy: PolicyFactory = ({ fleet, frag, rng }) => {
  const rank = tieRanks(fleet.size, rng);
  return {
    place(task) {
      const cpu = task.task.cpuMilli;
      const gpu = totalGpuMilli(task.task);
      // kube-scheduler's min-max normalisation that follows keeps exactly the same best set.
      const n = argmaxByRank(fleet, task, rank, (node) => {
        const left =
          (0.5 * (fleet.cpuLeft[node]! - cpu)) / MAX_SPEC_CPU_MILLI +
          (0.5 * (frag.freeMilli(node) - gpu)) / MAX_SPEC_GPU_MILLI;
        return Math.trunc((1 - left) * 100);
      });
      return n < 0 ? null : choice(n, bestGpus(fleet, n, task));
    },
  };
};
