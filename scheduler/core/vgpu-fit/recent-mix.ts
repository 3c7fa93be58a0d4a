// The mix of vGPU requests the extender has seen lately: the "target workload" that the
// fragmentation score measures against. Bounded by count (the last N container requests), so it
// needs no clock and follows the workload as it changes.
import { type TaskRequest, type WorkloadModel, workloadModel } from '../placement/index.ts';
import { shapeKey } from '../placement/workload.ts';
import { containerTask } from './fgd.ts';
import type { PodGpuRequest } from './request.ts';

export const DEFAULT_RECENT_REQUESTS = 1000;

export class RecentRequests {
  private readonly ring: TaskRequest[] = [];
  /**
   * shapeKey of each request in `ring`, at the same position: worked out once per request rather
   * than at every rebuild of the model (1000 key strings each time, most of a rebuild's cost).
   */
  private readonly keys: string[] = [];
  private next = 0;
  private cached: WorkloadModel | undefined;
  /** Requests recorded since `cached` was built. */
  private stale = 0;

  constructor(readonly capacity = DEFAULT_RECENT_REQUESTS) {
    if (!Number.isSafeInteger(capacity) || capacity < 1) throw new Error(`capacity ${capacity} must be ≥ 1`);
  }

  /** Counts one request; the oldest one drops out once `capacity` are held. */
  record(task: TaskRequest): void {
    const key = shapeKey(task);
    if (this.ring.length < this.capacity) {
      this.ring.push(task);
      this.keys.push(key);
    } else {
      this.ring[this.next] = task;
      this.keys[this.next] = key;
    }
    this.next = (this.next + 1) % this.capacity;
    this.stale++;
  }

  /**
   * The workload model of the mix, rebuilt once 1% of it is new (at least one request): a
   * statistic over a thousand requests barely moves with a few more, and rebuilding it costs more
   * than scoring the candidates.
   */
  model(): WorkloadModel {
    if (!this.cached || this.stale >= Math.max(1, Math.ceil(this.ring.length / 100))) {
      this.cached = workloadModel(this.ring, undefined, this.keys);
      this.stale = 0;
    }
    return this.cached;
  }

  /** A pod counts once per container that asks for GPUs: each container is placed on its own. */
  recordPod(request: PodGpuRequest): void {
    for (const c of request.containers) this.record(containerTask(c, request.models));
  }

  /** The requests held, in no particular order (the target workload does not depend on it). */
  tasks(): readonly TaskRequest[] {
    return this.ring;
  }

  get size(): number {
    return this.ring.length;
  }
}
