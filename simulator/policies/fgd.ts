// fgd: loadwise's production GPU rule (`--gpu-policy fgd`), the scheduling core's production GPU placement, called as the extender calls it. Its
// fixed node order (the tie-break) is a seeded random permutation here, as FGD's is.
import { GpuPlacer } from '../../scheduler/core/placement/placement.ts';
import { type PolicyFactory } from './policy.ts';

export const fgdPolicy: PolicyFactory = ({ fleet, tasks, rng }) => {
  const order = rng.shuffle(Array.from({ length: fleet.size }, (_, i) => i));
  const placer = new GpuPlacer(fleet, tasks, undefined, order);
  return {
    place(task) {
      const p = placer.choose(task);
      return p === null ? null : { node: p.node, gpus: p.gpus };
    },
    placed(_task, choice) {
      placer.committed(choice.node);
    },
  };
};
