// The target workload that fragmentation is measured against: the most popular task shapes
// covering a share (95% by default) of the tasks seen, with their popularity (FGD, §4.1).
import { type TaskRequest, TaskKind, taskKind } from './task.ts';

export interface TargetShape {
  readonly cpuMilli: number;
  readonly gpuCount: number;
  /** Per-GPU milli; 0 for a CPU-only shape. */
  readonly gpuMilli: number;
  readonly gpuModels: readonly string[];
  /** Share of the target workload, the shapes' popularities summing to 1. */
  readonly popularity: number;
}

/** Memory does not make a shape: like the FGD artifact, shapes are CPU × GPU × model. */
export function shapeKey(t: TaskRequest): string {
  const cpuOnly = taskKind(t) === TaskKind.Cpu;
  return `${t.cpuMilli}/${cpuOnly ? 0 : t.gpuMilli}/${cpuOnly ? 0 : t.gpuCount}/${t.gpuModels.join('|')}`;
}

/**
 * `wholeGpuWeight` w counts a task of k whole GPUs as 1 + k·w tasks (the artifact's
 * gpuResWeight; 0, the paper's setting, counts tasks): rare multi-GPU tasks then enter the target.
 * `keys[i]`, when given, is shapeKey(tasks[i]), kept by a caller that models the same tasks again
 * and again (the extender's mix of its last 1000 requests, every 10 requests).
 */
export function targetWorkload(
  tasks: readonly TaskRequest[],
  coverage = 0.95,
  wholeGpuWeight = 0,
  keys?: readonly string[],
): TargetShape[] {
  if (!(coverage > 0 && coverage <= 1)) throw new Error(`coverage ${coverage} not in (0, 1]`);
  const counts = new Map<string, { task: TaskRequest; count: number }>();
  let all = 0;
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i]!;
    const k = keys ? keys[i]! : shapeKey(t);
    const w = taskKind(t) === TaskKind.Whole ? 1 + t.gpuCount * wholeGpuWeight : 1;
    all += w;
    const e = counts.get(k);
    if (e) e.count += w;
    else counts.set(k, { task: t, count: w });
  }
  // Most popular first; equal counts in a fixed order (larger CPU, GPU milli, count, model first),
  // so the cut at the coverage line does not depend on the trace's order.
  const ranked = [...counts.values()].sort((a, b) => {
    if (a.count !== b.count) return b.count - a.count;
    const x = a.task;
    const y = b.task;
    if (x.cpuMilli !== y.cpuMilli) return y.cpuMilli - x.cpuMilli;
    if (x.gpuMilli !== y.gpuMilli) return y.gpuMilli - x.gpuMilli;
    if (x.gpuCount !== y.gpuCount) return y.gpuCount - x.gpuCount;
    const mx = x.gpuModels.join('|');
    const my = y.gpuModels.join('|');
    return mx < my ? 1 : mx > my ? -1 : 0;
  });
  const need = coverage * all;
  const chosen: { task: TaskRequest; count: number }[] = [];
  let covered = 0;
  for (const e of ranked) {
    if (covered >= need) break;
    chosen.push(e);
    covered += e.count;
  }
  return chosen.map(({ task, count }) => {
    const cpuOnly = taskKind(task) === TaskKind.Cpu;
    return {
      cpuMilli: task.cpuMilli,
      gpuCount: cpuOnly ? 0 : task.gpuCount,
      gpuMilli: cpuOnly ? 0 : task.gpuMilli,
      gpuModels: task.gpuModels,
      popularity: count / covered,
    };
  });
}
