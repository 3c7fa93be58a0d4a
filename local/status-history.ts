// What the status page's charts plot: the cluster sampled every few seconds into a bounded ring, so
// a page opened after five minutes still shows the five minutes, and a run left on for a day keeps
// a fixed amount of memory (the newest hour at the default period).
import type { Clock } from '../common/clock.ts';
import type { ClusterStatus } from './status.ts';

export interface HistoryPoint {
  /** Epoch ms of the sample. */
  t: number;
  /** Each node's CPU and memory in use as its agent reports them (newest sample), 0..1. */
  nodes: Record<string, { cpu?: number; mem?: number }>;
  /** Pods now bound, waiting for a node, and refused in the last minute. */
  pods: { bound: number; waiting: number; unschedulable: number };
  /** Over every GPU in the cluster, 0..1: the share loadwise allocated, and the mean utilisation. */
  gpu?: { allocated: number; utilised?: number };
}

/** Every 2 s; 1800 points is the newest hour. */
export const HISTORY_PERIOD_MS = 2000;
export const HISTORY_CAPACITY = 1800;
const UNSCHEDULABLE_SPAN_MS = 60_000;

export class StatusHistory {
  private readonly ring: HistoryPoint[] = [];
  /** Cumulative unschedulable decisions per point, to turn the demo's counter into a rate. */
  private readonly refused: number[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly capacity = HISTORY_CAPACITY,
  ) {}

  record(status: ClusterStatus): HistoryPoint {
    const t = this.clock.now();
    const nodes: HistoryPoint['nodes'] = {};
    let gpus = 0;
    let allocated = 0;
    let utilSum = 0;
    let utilCount = 0;
    for (const n of status.nodes) {
      nodes[n.name] = { cpu: n.agentWindows.cpu_usage_active, mem: n.agentWindows.mem_usage_active };
      for (const g of n.gpus) {
        gpus++;
        allocated += Math.min(1, g.allocated.core / 100);
        if (g.utilization !== undefined) {
          utilSum += g.utilization;
          utilCount++;
        }
      }
    }
    // Refused in the last minute: the demo counts each unschedulable decision (it drops the pod),
    // plus the pods that sit in the API server marked Unschedulable.
    const total = status.workload.unschedulable;
    // The count at the newest sample a minute old or older (the oldest one before a minute has passed).
    let base = total;
    for (let i = this.ring.length - 1; i >= 0; i--) {
      base = this.refused[i]!;
      if (t - this.ring[i]!.t >= UNSCHEDULABLE_SPAN_MS) break;
    }
    const point: HistoryPoint = {
      t,
      nodes,
      pods: {
        bound: status.pods.bound,
        waiting: status.pods.waiting,
        unschedulable: total - base + status.pods.unschedulable,
      },
    };
    if (gpus > 0) {
      point.gpu = { allocated: allocated / gpus };
      if (utilCount > 0) point.gpu.utilised = utilSum / utilCount;
    }
    this.ring.push(point);
    this.refused.push(total);
    if (this.ring.length > this.capacity) {
      this.ring.shift();
      this.refused.shift();
    }
    return point;
  }

  /** Points newer than `sinceMs` (all with 0), oldest first. */
  since(sinceMs = 0): HistoryPoint[] {
    let i = this.ring.length;
    while (i > 0 && this.ring[i - 1]!.t > sinceMs) i--;
    return this.ring.slice(i);
  }

  get size(): number {
    return this.ring.length;
  }
}

/**
 * Samples `gather` into `history` every `periodMs` until the returned stop is called. A sample that
 * takes longer than the period delays the next one instead of overlapping it.
 */
export function sampleInto(
  history: StatusHistory,
  gather: () => Promise<ClusterStatus>,
  periodMs = HISTORY_PERIOD_MS,
  onError: (err: unknown) => void = () => undefined,
): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    try {
      history.record(await gather());
    } catch (err) {
      onError(err);
    }
    if (!stopped) timer = setTimeout(() => void tick(), periodMs);
  };
  void tick();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
