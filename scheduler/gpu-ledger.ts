// What is already assigned on each node's GPUs: the assignments recorded on the node's pods (from
// a Pod watch) plus the extender's own bindings the watch has not shown yet. A burst of GPU pods
// must never see the same free GPU twice. Kept per node, so a filter over 500 candidates reads
// only their pods, not the cluster's.
import type { V1Pod } from '@kubernetes/client-node';
import {
  decodeVgpuAssignment,
  type GpuDevice,
  type GpuShare,
  VGPU_ASSIGNMENT_ANNOTATION,
} from '../contracts/index.ts';
import type { GpuFree } from './core/vgpu/fit.ts';

interface Holding {
  node: string;
  shares: GpuShare[];
  /** Set for the extender's own, unconfirmed assignments. */
  assumedAtMs?: number;
}

const key = (namespace: string | undefined, name: string | undefined) =>
  `${namespace ?? 'default'}/${name ?? ''}`;

export class GpuLedger {
  /** By namespace/name: what each pod holds (a confirmed assignment replaces an assumed one). */
  private readonly pods = new Map<string, Holding>();
  /** By node: the pods holding GPUs there. */
  private readonly byNode = new Map<string, Set<string>>();

  private set(podKey: string, holding: Holding): void {
    this.remove(podKey);
    this.pods.set(podKey, holding);
    let keys = this.byNode.get(holding.node);
    if (!keys) this.byNode.set(holding.node, (keys = new Set()));
    keys.add(podKey);
  }

  private remove(podKey: string): void {
    const old = this.pods.get(podKey);
    if (!old) return;
    this.pods.delete(podKey);
    const keys = this.byNode.get(old.node);
    keys?.delete(podKey);
    if (keys?.size === 0) this.byNode.delete(old.node);
  }

  /** Pod watch events: a bound, running pod with an assignment holds its GPUs; anything else frees them. */
  onPod(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: V1Pod): void {
    const k = key(pod.metadata?.namespace, pod.metadata?.name);
    const node = pod.spec?.nodeName;
    const phase = pod.status?.phase;
    const text = pod.metadata?.annotations?.[VGPU_ASSIGNMENT_ANNOTATION];
    const decoded = text === undefined ? undefined : decodeVgpuAssignment(text);
    if (type === 'DELETED' || phase === 'Succeeded' || phase === 'Failed') {
      this.remove(k);
      return;
    }
    // Not bound yet, or no (readable) assignment: an own assumption, if any, stays until confirmed.
    if (!node || !decoded?.ok) {
      if (this.pods.get(k)?.assumedAtMs === undefined) this.remove(k);
      return;
    }
    this.set(k, { node, shares: Object.values(decoded.assignment.containers).flat() });
  }

  /** Records the extender's own assignment at bind time, until the watch shows the pod. */
  assume(
    namespace: string,
    name: string,
    node: string,
    containers: Record<string, GpuShare[]>,
    atMs: number,
  ): void {
    this.set(key(namespace, name), { node, shares: Object.values(containers).flat(), assumedAtMs: atMs });
  }

  forget(namespace: string, name: string): void {
    const k = key(namespace, name);
    if (this.pods.get(k)?.assumedAtMs !== undefined) this.remove(k);
  }

  /** Drops own assumptions older than `horizonMs` that the watch never confirmed (a failed start, say). */
  prune(nowMs: number, horizonMs: number): void {
    for (const [k, h] of this.pods)
      if (h.assumedAtMs !== undefined && h.assumedAtMs < nowMs - horizonMs) this.remove(k);
  }

  /** What is left on each of `node`'s GPUs. */
  free(node: string, inventory: readonly GpuDevice[]): GpuFree[] {
    const free = inventory.map((d) => ({ device: d, core: 100, memoryMiB: d.memoryMiB }));
    const keys = this.byNode.get(node);
    if (!keys) return free;
    for (const k of keys) {
      for (const s of this.pods.get(k)!.shares) {
        // Inventories list GPUs by index, so the position is almost always the index.
        const g =
          free[s.index]?.device.index === s.index
            ? free[s.index]
            : free.find((f) => f.device.index === s.index);
        if (!g) continue;
        g.core -= s.core;
        g.memoryMiB -= s.memoryMiB;
      }
    }
    return free;
  }
}
