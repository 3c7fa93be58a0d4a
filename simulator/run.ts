// One simulation: a trace, a policy and a seed, replayed against the node list.
import { prepareTask, type PreparedTask } from '../scheduler/core/placement/filter.ts';
import { GpuFleet, type NodeSpec } from '../scheduler/core/placement/fleet.ts';
import { FragIndex } from '../scheduler/core/placement/fragmentation.ts';
import { totalGpuMilli } from '../scheduler/core/placement/task.ts';
import { GPU_MILLI } from '../scheduler/core/placement/units.ts';
import { targetWorkload } from '../scheduler/core/placement/workload.ts';
import { BinnedCurve, type CurvePoint, pointAt } from './metrics.ts';
import { POLICIES } from './policies/index.ts';
import { arrivals, DEFAULT_DEMAND_RATIO } from './protocol.ts';
import { Rng } from './rng.ts';
import { type TraceTask } from './trace/openb.ts';

export interface RunSpec {
  readonly trace: string;
  readonly policy: string;
  readonly seed: number;
}

export interface RunResult extends RunSpec {
  readonly unallocatedPctAt100: number;
  readonly allocatedPctAt130: number;
  readonly fragRatePctAt100: number;
  readonly failedTasks: number;
  readonly arrivedTasks: number;
  readonly curve: readonly CurvePoint[];
  readonly seconds: number;
}

export function simulate(
  nodes: readonly NodeSpec[],
  tasks: readonly TraceTask[],
  spec: RunSpec,
  now: () => number,
): RunResult {
  const started = now();
  const factory = POLICIES[spec.policy];
  if (!factory) throw new Error(`unknown policy "${spec.policy}"`);
  const fleet = new GpuFleet(nodes);
  if (fleet.totalGpuMilli === 0) throw new Error('the node list has no GPU');
  const frag = new FragIndex(fleet, targetWorkload(tasks));
  const rng = new Rng(spec.seed);
  const queue = arrivals(tasks, fleet.totalGpuMilli, rng, DEFAULT_DEMAND_RATIO);
  const policy = factory({ fleet, frag, rng, tasks });
  const prepared = new Map<TraceTask, PreparedTask>();
  const capacity = fleet.totalGpuMilli;
  const curve = new BinnedCurve();
  let arrived = 0;
  let used = 0;
  let failed = 0;
  for (const task of queue) {
    let p = prepared.get(task);
    if (!p) {
      p = prepareTask(fleet, task);
      prepared.set(task, p);
    }
    const demand = totalGpuMilli(task);
    arrived += demand;
    const c = policy.place(p);
    if (c === null) failed++;
    else {
      fleet.allocate(c.node, task, c.gpus);
      frag.refresh(c.node);
      policy.placed?.(p, c);
      used += demand;
    }
    const idle = capacity - used;
    curve.record(
      (100 * arrived) / capacity,
      (100 * used) / capacity,
      frag.total() / GPU_MILLI,
      idle > 0 ? (100 * frag.total()) / idle : 0,
      failed,
    );
  }
  const points = curve.points(Math.round(DEFAULT_DEMAND_RATIO * 100));
  const at100 = pointAt(points, 100);
  const at130 = pointAt(points, 130);
  return {
    ...spec,
    unallocatedPctAt100: at100?.unallocatedPct ?? NaN,
    allocatedPctAt130: at130?.allocatedPct ?? NaN,
    fragRatePctAt100: at100?.fragRatePct ?? NaN,
    failedTasks: failed,
    arrivedTasks: queue.length,
    curve: points,
    seconds: (now() - started) / 1000,
  };
}
