// GPU clustering (artifact's GpuClustering): tasks of the same GPU kind (a share, or k whole
// GPUs) gather on the same nodes; among those, fuller nodes first. CPU-only tasks score alike everywhere.
import { type PreparedTask } from '../../scheduler/core/placement/filter.ts';
import { TaskKind } from '../../scheduler/core/placement/task.ts';
import { argmaxByRank, tieRanks, bestGpus, choice } from './common.ts';
import { type PolicyFactory } from './policy.ts';
import { MAX_SPEC_GPU_MILLI } from './specs.ts';

const TAGS = 10;

/** 0: a share of one GPU; k: k whole GPUs (capped). */
function tagOf(task: PreparedTask): number {
  return task.kind === TaskKind.Share ? 0 : Math.min(task.task.gpuCount, TAGS - 1);
}

export const clusteringPolicy: PolicyFactory = ({ fleet, frag, rng }) => {
  const rank = tieRanks(fleet.size, rng);
  const tags = new Int32Array(fleet.size * TAGS);
  const distinct = new Int32Array(fleet.size);
  return {
    place(task) {
      if (task.kind === TaskKind.Cpu) {
        const n = argmaxByRank(fleet, task, rank, () => 0);
        return choice(n, []);
      }
      const tag = tagOf(task);
      const n = argmaxByRank(fleet, task, rank, (node) => {
        const base = Math.trunc((25 * (MAX_SPEC_GPU_MILLI - frag.freeMilli(node))) / MAX_SPEC_GPU_MILLI);
        const kinds = distinct[node]!;
        if (tags[node * TAGS + tag]! > 0) return base + (kinds === 1 ? 75 : 50);
        return base + (kinds === 0 ? 25 : 0);
      });
      return n < 0 ? null : choice(n, bestGpus(fleet, n, task));
    },
    placed(task, c) {
      if (task.kind === TaskKind.Cpu) return;
      const i = c.node * TAGS + tagOf(task);
      if (tags[i] === 0) distinct[c.node] = distinct[c.node]! + 1;
      tags[i] = tags[i]! + 1;
    },
  };
};
