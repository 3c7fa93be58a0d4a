// The hot value: how many pods were recently bound to a node, by crane-scheduler's rule
// Σ floor(bindings in timeRange / count) over the policy's hotValue entries.
import type { V1Pod } from '@kubernetes/client-node';
import { parseRfc3339 } from '../contracts/time.ts';
import type { HotValuePolicy } from '../common/policy.ts';

/** When a pod was bound: its PodScheduled condition, else its creation (a pod created bound). */
export function bindingTimeMs(pod: V1Pod): number | undefined {
  const scheduled = pod.status?.conditions?.find((c) => c.type === 'PodScheduled' && c.status === 'True');
  const when = scheduled?.lastTransitionTime ?? pod.metadata?.creationTimestamp;
  if (when === undefined) return undefined;
  // The client hands back Dates for typed time fields; a raw string is possible from other paths.
  if (when instanceof Date) return Number.isNaN(when.getTime()) ? undefined : when.getTime();
  return parseRfc3339(String(when));
}

/** Recent bindings per node, deduplicated by pod UID and forgotten past the longest time range. */
export class BindingTracker {
  private readonly byNode = new Map<string, Map<string, number>>();
  private readonly nodeOf = new Map<string, string>();

  constructor(private horizonMs: number) {}

  setHorizon(horizonMs: number): void {
    this.horizonMs = horizonMs;
  }

  /** Notes that pod `uid` was bound to `node` at `atMs`. Repeats (re-lists, updates) count once. */
  record(node: string, uid: string, atMs: number, nowMs: number): void {
    if (nowMs - atMs > this.horizonMs || this.nodeOf.has(uid)) return;
    this.nodeOf.set(uid, node);
    let bindings = this.byNode.get(node);
    if (!bindings) {
      bindings = new Map();
      this.byNode.set(node, bindings);
    }
    bindings.set(uid, atMs);
  }

  /** Drops bindings older than the horizon; bounded work per call, proportional to what is kept. */
  prune(nowMs: number): void {
    for (const [node, bindings] of this.byNode) {
      for (const [uid, at] of bindings) {
        if (nowMs - at > this.horizonMs) {
          bindings.delete(uid);
          this.nodeOf.delete(uid);
        }
      }
      if (bindings.size === 0) this.byNode.delete(node);
    }
  }

  hotValue(node: string, rules: readonly HotValuePolicy[], nowMs: number): number {
    const bindings = this.byNode.get(node);
    if (!bindings || rules.length === 0) return 0;
    let hot = 0;
    for (const rule of rules) {
      let n = 0;
      for (const at of bindings.values()) if (nowMs - at <= rule.timeRangeMs) n++;
      hot += Math.floor(n / rule.count);
    }
    return hot;
  }

  get size(): number {
    return this.nodeOf.size;
  }
}
