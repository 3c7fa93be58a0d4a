// The extender's own recent bindings per node. kube-scheduler gives an extender no Reserve hook,
// so without this a burst of pods would all see the same figures and pile onto one node before
// the load shows up in the annotations minutes later.
import type { PodDemand } from './demand.ts';

export interface RecordedBinding {
  /** namespace/name of the pod. */
  pod: string;
  boundAtMs: number;
  demand: PodDemand;
  /** The pod is gone (deleted or finished): its demand no longer lands, its binding still counted. */
  gone?: boolean;
}

export class RecentBindings {
  private readonly byNode = new Map<string, RecordedBinding[]>();

  /** @param horizonMs how long a binding can matter (the longest of the settle time and the hot-value ranges). */
  constructor(private horizonMs: number) {}

  setHorizon(horizonMs: number): void {
    this.horizonMs = horizonMs;
  }

  record(node: string, binding: RecordedBinding): void {
    const list = this.byNode.get(node);
    if (list) list.push(binding);
    else this.byNode.set(node, [binding]);
  }

  /**
   * The pod left the node: what it would have added to the node's load never comes, so the
   * estimate drops it; the binding itself still counts towards the hot value (a rate of bindings).
   */
  departed(node: string, pod: string): void {
    for (const b of this.byNode.get(node) ?? []) if (b.pod === pod) b.gone = true;
  }

  /** The node's bindings still within the horizon, oldest first; older ones are dropped here. */
  forNode(node: string, nowMs: number): readonly RecordedBinding[] {
    const list = this.byNode.get(node);
    if (!list) return [];
    const cutoff = nowMs - this.horizonMs;
    let drop = 0;
    while (drop < list.length && list[drop]!.boundAtMs <= cutoff) drop++;
    if (drop === list.length) {
      this.byNode.delete(node);
      return [];
    }
    if (drop > 0) list.splice(0, drop);
    return list;
  }

  /** Drops what is past the horizon on every node (called now and then, not per request). */
  prune(nowMs: number): void {
    for (const node of [...this.byNode.keys()]) this.forNode(node, nowMs);
  }

  get size(): number {
    let n = 0;
    for (const list of this.byNode.values()) n += list.length;
    return n;
  }
}
