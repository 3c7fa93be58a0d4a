// What kube-scheduler does with a nodeCacheCapable extender, for one pod: its own NodeResourcesFit
// filter (node allocatable against the requests of the pods bound there, extended resources
// included), then the candidate node names to /filter, the survivors to /prioritize, bind to the
// best-scored node through /bind.
// The local mode and the end-to-end test schedule through it, so every decision they show or
// assert went through the extender's real HTTP verbs. It keeps the extender's answers (why each
// node was filtered, each node's score) because that is what a person watching wants to see.
import type { CoreV1Api, V1Pod } from '@kubernetes/client-node';
import {
  EXTENDER_PATHS,
  type ExtenderArgs,
  type ExtenderBindingArgs,
  type ExtenderBindingResult,
  type ExtenderFilterResult,
  type FailedNodesMap,
  type HostPriorityList,
} from '../contracts/extender-api.ts';
import { nodeResourcesMisfit } from './node-resources-fit.ts';

export interface SchedulingDecision {
  namespace: string;
  name: string;
  /** Unix ms when the cycle started. */
  atMs: number;
  /** Node → why the extender filtered it out. */
  filtered: FailedNodesMap;
  /** Node → extender score (0..10), for the nodes that passed the filter. */
  scores: Record<string, number>;
  /** Where the pod was bound; undefined when it was not. */
  node?: string;
  /** Why the pod was not bound (no node fits, an extender error, a bind refused). */
  error?: string;
  durationMs: number;
}

export interface SchedulingCycleOptions {
  /** The extender's base URL, e.g. http://127.0.0.1:8888 */
  extender: string;
  /** Per-verb timeout (kube-scheduler's extender httpTimeout). */
  timeoutMs?: number;
  now?: () => number;
  /**
   * The API to read Nodes and Pods from for kube-scheduler's NodeResourcesFit; without it the
   * candidates go to the extender unchecked (a test of the extender alone).
   */
  core?: CoreV1Api;
}

/** Node name → kube-scheduler's reasons, for the candidates whose allocatable cannot take the pod. */
async function resourceMisfits(
  core: CoreV1Api,
  pod: V1Pod,
  nodeNames: readonly string[],
): Promise<FailedNodesMap> {
  const [nodes, pods] = await Promise.all([core.listNode(), core.listPodForAllNamespaces()]);
  const byName = new Map(nodes.items.map((n) => [n.metadata?.name ?? '', n]));
  const failed: FailedNodesMap = {};
  for (const name of nodeNames) {
    const node = byName.get(name);
    if (!node) {
      failed[name] = 'node not found';
      continue;
    }
    const reasons = nodeResourcesMisfit(pod, node, pods.items);
    if (reasons.length > 0) failed[name] = reasons.join(', ');
  }
  return failed;
}

async function post<T>(base: string, path: string, body: unknown, timeoutMs: number): Promise<T> {
  const res = await fetch(base + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

/** kube-scheduler's summary: "0/3 nodes are available: 2 Insufficient cpu, 1 Too many pods." */
function unavailable(total: number, failed: FailedNodesMap): string {
  const counts = new Map<string, number>();
  for (const reasons of Object.values(failed))
    for (const r of reasons.split(', ')) counts.set(r, (counts.get(r) ?? 0) + 1);
  const parts = [...counts].sort(([a], [b]) => (a < b ? -1 : 1)).map(([r, n]) => `${n} ${r}`);
  return `0/${total} nodes are available${parts.length ? `: ${parts.join(', ')}` : ''}`;
}

/** Ties go to the node that sorts first, so a run is reproducible. */
export function bestNode(scores: Record<string, number>): string | undefined {
  let best: string | undefined;
  for (const [node, score] of Object.entries(scores)) {
    if (best === undefined || score > scores[best]! || (score === scores[best] && node < best)) best = node;
  }
  return best;
}

/** Schedules one pod over `nodeNames`; never throws, the outcome is in the decision. */
export async function scheduleOne(
  pod: V1Pod,
  nodeNames: readonly string[],
  opts: SchedulingCycleOptions,
): Promise<SchedulingDecision> {
  const now = opts.now ?? Date.now;
  const timeoutMs = opts.timeoutMs ?? 5000;
  const started = now();
  const decision: SchedulingDecision = {
    namespace: pod.metadata?.namespace ?? 'default',
    name: pod.metadata?.name ?? '',
    atMs: started,
    filtered: {},
    scores: {},
    durationMs: 0,
  };
  try {
    const misfits = opts.core ? await resourceMisfits(opts.core, pod, nodeNames) : {};
    const candidates = nodeNames.filter((n) => misfits[n] === undefined);
    decision.filtered = { ...misfits };
    if (candidates.length === 0) throw new Error(unavailable(nodeNames.length, misfits));
    const args: ExtenderArgs = { Pod: pod, NodeNames: candidates };
    const filter = await post<ExtenderFilterResult>(opts.extender, EXTENDER_PATHS.filter, args, timeoutMs);
    Object.assign(decision.filtered, filter.FailedNodes ?? {});
    if (filter.Error) throw new Error(`filter: ${filter.Error}`);
    const passed = filter.NodeNames ?? [];
    if (passed.length === 0) throw new Error(`0/${nodeNames.length} nodes are available`);
    const priorities = await post<HostPriorityList>(
      opts.extender,
      EXTENDER_PATHS.prioritize,
      { Pod: pod, NodeNames: passed } satisfies ExtenderArgs,
      timeoutMs,
    );
    for (const p of priorities) decision.scores[p.Host] = p.Score;
    for (const n of passed) decision.scores[n] ??= 0;
    const node = bestNode(decision.scores)!;
    const binding: ExtenderBindingArgs = {
      PodName: decision.name,
      PodNamespace: decision.namespace,
      PodUID: pod.metadata?.uid ?? '',
      Node: node,
    };
    const bound = await post<ExtenderBindingResult>(opts.extender, EXTENDER_PATHS.bind, binding, timeoutMs);
    if (bound.Error) throw new Error(`bind to ${node}: ${bound.Error}`);
    decision.node = node;
  } catch (err) {
    decision.error = (err as Error).message;
  }
  decision.durationMs = now() - started;
  return decision;
}
