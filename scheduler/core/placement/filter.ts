// Can a node host a task at all, and if not, why: the extender's FailedNodes text comes from here.
import { type GpuFleet } from './fleet.ts';
import { type TaskRequest, TaskKind, taskKind } from './task.ts';
import { acceptsGpuModel } from '../../../contracts/vgpu-pod.ts';

export const Misfit = { None: 0, Cpu: 1, Memory: 2, NoGpu: 3, Model: 4, Share: 5, Whole: 6 } as const;
export type Misfit = (typeof Misfit)[keyof typeof Misfit];

/** Task-side facts resolved once per task, so per-node checks stay allocation-free. */
export interface PreparedTask {
  readonly task: TaskRequest;
  readonly kind: TaskKind;
  /** Per model id of the fleet: may the task use it. */
  readonly modelOk: Uint8Array;
}

export function prepareTask(fleet: GpuFleet, task: TaskRequest): PreparedTask {
  const modelOk = new Uint8Array(fleet.models.length);
  fleet.models.forEach((m, i) => {
    modelOk[i] = acceptsGpuModel(task.gpuModels, m) ? 1 : 0;
  });
  return { task, kind: taskKind(task), modelOk };
}

export function misfit(fleet: GpuFleet, n: number, p: PreparedTask): Misfit {
  const t = p.task;
  if (fleet.cpuLeft[n]! < t.cpuMilli) return Misfit.Cpu;
  if (fleet.memLeft[n]! < t.memoryMib) return Misfit.Memory;
  if (p.kind === TaskKind.Cpu) return Misfit.None;
  const count = fleet.gpuCount[n]!;
  if (count === 0) return Misfit.NoGpu;
  if (p.modelOk[fleet.modelId[n]!] !== 1) return Misfit.Model;
  if (p.kind === TaskKind.Share) {
    for (let g = 0; g < count; g++) if (fleet.takes(n, g, t)) return Misfit.None;
    return Misfit.Share;
  }
  let free = 0;
  for (let g = 0; g < count; g++) if (fleet.takes(n, g, t)) free++;
  return free >= t.gpuCount ? Misfit.None : Misfit.Whole;
}

/** The sentence for a misfit, as FailedNodes shows it. */
export function describeMisfit(fleet: GpuFleet, n: number, p: PreparedTask, why: Misfit): string {
  const t = p.task;
  switch (why) {
    case Misfit.None:
      return 'fits';
    case Misfit.Cpu:
      return `needs ${t.cpuMilli}m CPU, ${fleet.cpuLeft[n]}m free`;
    case Misfit.Memory:
      return `needs ${t.memoryMib} MiB memory, ${fleet.memLeft[n]} MiB free`;
    case Misfit.NoGpu:
      return 'has no GPU';
    case Misfit.Model:
      return `GPU model ${fleet.specs[n]?.gpuModel} is not one of ${t.gpuModels.join('|')}`;
    case Misfit.Share: {
      const best = Math.max(0, ...fleet.gpuLeftOf(n));
      const memory = t.gpuMemoryMib ? ` and ${t.gpuMemoryMib} MiB` : '';
      return `needs ${t.gpuMilli}m${memory} of one GPU, at most ${best}m free on any`;
    }
    case Misfit.Whole: {
      let free = 0;
      for (let g = 0; g < fleet.gpuCount[n]!; g++) if (fleet.takes(n, g, t)) free++;
      const memory = t.gpuMemoryMib ? ` with at least ${t.gpuMemoryMib} MiB each` : '';
      return `needs ${t.gpuCount} whole GPU${t.gpuCount === 1 ? '' : 's'}${memory}, ${free} free`;
    }
  }
}
