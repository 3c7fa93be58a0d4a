// kube-scheduler's NodeResourcesFit filter, for the local mode's scheduling stand-in: a node passes
// only when its allocatable covers what its bound pods request plus what this pod requests, for
// CPU, memory, the pod count and every extended resource the pod asks for (loadwise.io/vgpu-*
// included). Without it the demo could show a placement the real scheduler refuses: the extender
// judges GPUs, not node totals. Pure; the caller lists the nodes and pods.
import type { V1Container, V1Node, V1Pod } from '@kubernetes/client-node';
import { parseQuantity } from '../common/quantity.ts';

/** Requests by resource name, in kube-scheduler's units: CPU in milli, the rest in whole units. */
export type ResourceList = Map<string, number>;

function amount(name: string, text: unknown): number {
  const q = typeof text === 'string' ? parseQuantity(text) : typeof text === 'number' ? text : undefined;
  if (q === undefined || !(q > 0)) return 0;
  // kube-scheduler compares CPU by MilliValue and everything else by Value (rounded up).
  return name === 'cpu' ? Math.ceil(q * 1000) : Math.ceil(q);
}

/** A container's requests; a resource with a limit and no request requests the limit, as the API server defaults it. */
function containerRequests(c: V1Container): ResourceList {
  const out: ResourceList = new Map();
  const requests = c.resources?.requests ?? {};
  const limits = c.resources?.limits ?? {};
  for (const name of new Set([...Object.keys(limits), ...Object.keys(requests)])) {
    const v = amount(name, requests[name] ?? limits[name]);
    if (v > 0) out.set(name, v);
  }
  return out;
}

/** What the pod requests: the sum of its containers, at least its largest init container, plus overhead. */
export function podRequests(pod: V1Pod): ResourceList {
  const total: ResourceList = new Map();
  for (const c of pod.spec?.containers ?? []) {
    for (const [name, v] of containerRequests(c)) total.set(name, (total.get(name) ?? 0) + v);
  }
  for (const c of pod.spec?.initContainers ?? []) {
    for (const [name, v] of containerRequests(c)) total.set(name, Math.max(total.get(name) ?? 0, v));
  }
  for (const [name, text] of Object.entries(pod.spec?.overhead ?? {})) {
    total.set(name, (total.get(name) ?? 0) + amount(name, text));
  }
  return total;
}

/** Pods that hold resources on a node: bound there and not finished. */
export function holdsResources(pod: V1Pod, node: string): boolean {
  const phase = pod.status?.phase;
  return pod.spec?.nodeName === node && phase !== 'Succeeded' && phase !== 'Failed';
}

/**
 * Why `node` cannot take `pod` given the pods already on it (kube-scheduler's reasons:
 * "Too many pods", "Insufficient cpu", "Insufficient loadwise.io/vgpu-memory"…); empty when it fits.
 */
export function nodeResourcesMisfit(pod: V1Pod, node: V1Node, podsOnNode: readonly V1Pod[]): string[] {
  const name = node.metadata?.name ?? '';
  const allocatable = node.status?.allocatable ?? {};
  const used: ResourceList = new Map();
  let count = 0;
  for (const p of podsOnNode) {
    if (!holdsResources(p, name)) continue;
    count++;
    for (const [r, v] of podRequests(p)) used.set(r, (used.get(r) ?? 0) + v);
  }
  const reasons: string[] = [];
  if (allocatable.pods !== undefined && count + 1 > amount('pods', allocatable.pods))
    reasons.push('Too many pods');
  for (const [r, want] of podRequests(pod)) {
    if (want > amount(r, allocatable[r]) - (used.get(r) ?? 0)) reasons.push(`Insufficient ${r}`);
  }
  return reasons;
}
