// The FGD artifact's arrival protocol: timestamps are ignored and tasks never finish. Per seed the
// trace is shuffled, then tasks sampled from it are appended until the GPU demand reaches the
// target share of capacity (130%); a trace that already exceeds it loses random tasks instead.
import { totalGpuMilli } from '../scheduler/core/placement/task.ts';
import { type Rng } from './rng.ts';
import { type TraceTask } from './trace/openb.ts';

export const DEFAULT_DEMAND_RATIO = 1.3;

export function arrivals(
  trace: readonly TraceTask[],
  capacityMilli: number,
  rng: Rng,
  ratio = DEFAULT_DEMAND_RATIO,
): TraceTask[] {
  if (trace.length === 0) return [];
  const target = ratio * capacityMilli;
  const out = rng.shuffle([...trace]);
  let demand = out.reduce((s, t) => s + totalGpuMilli(t), 0);
  if (demand > target) {
    while (demand > target && out.length > 0) {
      const [gone] = out.splice(rng.int(out.length), 1);
      if (gone) demand -= totalGpuMilli(gone);
    }
    return out;
  }
  if (!trace.some((t) => totalGpuMilli(t) > 0)) return out;
  for (;;) {
    const pick = trace[rng.int(trace.length)]!;
    const d = totalGpuMilli(pick);
    if (demand + d > target) break;
    demand += d;
    out.push(pick);
  }
  return out;
}
