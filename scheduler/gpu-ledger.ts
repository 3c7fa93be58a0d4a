// What is already assigned on each node's GPUs: the assignments recorded on the node's pods (from
// a Pod watch) plus the extender's own bindings the watch has not shown yet. A burst of GPU pods
// must never see the same free GPU twice.
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
}

const key = (namespace: string | undefined, name: string | undefined) =>
  `${namespace ?? 'default'}/${name ?? ''}`;

function sharesOf(containers: Record<string, GpuShare[]>): GpuShare[] {
  return Object.values(containers).flat();
}

export class GpuLedger {
  /** Pods seen bound with an assignment, by namespace/name. */
  private readonly seen = new Map<string, Holding>();
  /** The extender's own assignments not yet seen on a bound pod. */
  private readonly assumed = new Map<string, Holding & { atMs: number }>();

  /** Pod watch events: a bound, running pod with an assignment holds its GPUs; anything else frees them. */
  onPod(type: 'ADDED' | 'MODIFIED' | 'DELETED', pod: V1Pod): void {
    const k = key(pod.metadata?.namespace, pod.metadata?.name);
    const node = pod.spec?.nodeName;
    const phase = pod.status?.phase;
    const text = pod.metadata?.annotations?.[VGPU_ASSIGNMENT_ANNOTATION];
    const decoded = text === undefined ? undefined : decodeVgpuAssignment(text);
    if (type === 'DELETED' || !node || phase === 'Succeeded' || phase === 'Failed' || !decoded?.ok) {
      this.seen.delete(k);
      if (type === 'DELETED' || phase === 'Succeeded' || phase === 'Failed') this.assumed.delete(k);
      return;
    }
    this.seen.set(k, { node, shares: sharesOf(decoded.assignment.containers) });
    this.assumed.delete(k);
  }

  /** Records the extender's own assignment at bind time, until the watch shows the pod. */
  assume(
    namespace: string,
    name: string,
    node: string,
    containers: Record<string, GpuShare[]>,
    atMs: number,
  ): void {
    this.assumed.set(key(namespace, name), { node, shares: sharesOf(containers), atMs });
  }

  forget(namespace: string, name: string): void {
    this.assumed.delete(key(namespace, name));
  }

  /** Drops own assumptions older than `horizonMs` that the watch never confirmed (a failed start, say). */
  prune(nowMs: number, horizonMs: number): void {
    for (const [k, a] of this.assumed) if (a.atMs < nowMs - horizonMs) this.assumed.delete(k);
  }

  /** What is left on each of `node`'s GPUs. */
  free(node: string, inventory: readonly GpuDevice[]): GpuFree[] {
    const free = new Map(inventory.map((d) => [d.index, { device: d, core: 100, memoryMiB: d.memoryMiB }]));
    const take = (h: Holding) => {
      if (h.node !== node) return;
      for (const s of h.shares) {
        const g = free.get(s.index);
        if (!g) continue;
        g.core -= s.core;
        g.memoryMiB -= s.memoryMiB;
      }
    };
    for (const h of this.seen.values()) take(h);
    for (const h of this.assumed.values()) take(h);
    return [...free.values()];
  }
}
