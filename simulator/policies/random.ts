// Random: any node that fits, and any GPU on it that fits.
import { TaskKind } from '../../scheduler/core/placement/task.ts';
import { choice, firstWholeGpus, randomFeasible, randomFitGpu } from './common.ts';
import { type PolicyFactory } from './policy.ts';

export const randomPolicy: PolicyFactory = ({ fleet, rng }) => ({
  place(task) {
    const n = randomFeasible(fleet, task, rng);
    if (n < 0) return null;
    if (task.kind === TaskKind.Cpu) return choice(n, []);
    if (task.kind === TaskKind.Share) return choice(n, [randomFitGpu(fleet, n, task.task, rng)]);
    return choice(n, firstWholeGpus(fleet, n, task.task));
  },
});
