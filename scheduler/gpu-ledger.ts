// What is already assigned on each node's GPUs: the assignments recorded on the node's pods (from
// a Pod watch) plus the extender's own bindings the watch has not shown yet. A burst of GPU pods
// must never see the same free GPU twice. Summed per node and GPU as pods come and go, so a filter
// over 500 candidates reads one small map per node, not the pods.
import type { V1Pod } from '@kubernetes/client-node';
import {
  decodeVgpuAssignment,
  type GpuDevice,
  type GpuShare,
  VGPU_ASSIGNMENT_ANNOTATION,
} from '../contracts/index.ts';
import type { GpuFree, GpuUse } from './core/vgpu-fit/fit.ts';

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
  /** By node, then GPU index: the sum of what the node's holdings assign there, kept as they change. */
  private readonly used = new Map<string, Map<number, GpuUse>>();
  /**
   * By node: the free list last handed out and the inventory it was worked out for, kept until the
   * node's usage changes. A /filter asks for every candidate's list, and most nodes' usage has not
   * changed since the previous pod's. Callers only read the lists (fitPod copies what it changes).
   */
  private readonly freeLists = new Map<
    string,
    { inventory: readonly GpuDevice[]; list: readonly GpuFree[] }
  >();

  private set(podKey: string, holding: Holding): void {
    this.remove(podKey);
    this.pods.set(podKey, holding);
    this.count(holding, 1);
  }

  private count(holding: Holding, sign: 1 | -1): void {
    this.freeLists.delete(holding.node);
    let gpus = this.used.get(holding.node);
    if (!gpus) this.used.set(holding.node, (gpus = new Map()));
    for (const s of holding.shares) {
      const u = gpus.get(s.index) ?? { core: 0, memoryMiB: 0 };
      u.core += sign * s.core;
      u.memoryMiB += sign * s.memoryMiB;
      if (u.core === 0 && u.memoryMiB === 0) gpus.delete(s.index);
      else gpus.set(s.index, u);
    }
    if (gpus.size === 0) this.used.delete(holding.node);
  }

  private remove(podKey: string): void {
    const old = this.pods.get(podKey);
    if (!old) return;
    this.pods.delete(podKey);
    this.count(old, -1);
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
    // Lists of nodes no longer asked about (deleted, renamed) would otherwise stay for good.
    this.freeLists.clear();
    for (const [k, h] of this.pods)
      if (h.assumedAtMs !== undefined && h.assumedAtMs < nowMs - horizonMs) this.remove(k);
  }

  /** Per GPU index of `node`: what is assigned there (indexes with nothing assigned are absent). */
  usage(node: string): ReadonlyMap<number, Readonly<GpuUse>> | undefined {
    return this.used.get(node);
  }

  /** What is left on each of `node`'s GPUs (assignments to GPUs not in the inventory are ignored). */
  free(node: string, inventory: readonly GpuDevice[]): readonly Readonly<GpuFree>[] {
    const cached = this.freeLists.get(node);
    if (cached && cached.inventory === inventory) return cached.list;
    const used = this.used.get(node);
    const list = inventory.map((d) => {
      const u = used?.get(d.index);
      return { device: d, core: 100 - (u?.core ?? 0), memoryMiB: d.memoryMiB - (u?.memoryMiB ?? 0) };
    });
    this.freeLists.set(node, { inventory, list });
    return list;
  }
}
