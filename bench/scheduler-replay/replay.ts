// kube-scheduler's call pattern, replayed against one extender: for each pending pod in turn
// (the scheduling cycle is serial), POST /filter with a window of node names and wait, POST
// /prioritize with the names that passed and wait, pick the best host, and hand POST /bind to the
// binding cycle, which runs concurrently for many pods (bounded, like its goroutines).
import type { V1Pod } from '@kubernetes/client-node';
import {
  EXTENDER_MAX_SCORE,
  EXTENDER_PATHS,
  type ExtenderBindingArgs,
  type ExtenderFilterResult,
  type HostPriorityList,
} from '../../contracts/index.ts';
import type { Answer, ExtenderClient } from './client.ts';

/**
 * How many feasible nodes kube-scheduler looks for before it calls the extenders
 * (numFeasibleNodesToFind with the default percentageOfNodesToScore): all of a small cluster,
 * else 50 % minus 1 % per 125 nodes (at least 5 %), never fewer than 100.
 */
export function feasibleNodesToFind(nodes: number): number {
  const MIN_FEASIBLE = 100;
  if (nodes < MIN_FEASIBLE) return nodes;
  const percentage = Math.max(5, 50 - Math.trunc(nodes / 125));
  return Math.max(MIN_FEASIBLE, Math.trunc((nodes * percentage) / 100));
}

/** Where kube-scheduler's next walk over the node list starts; it carries on across pods. */
export class NodeWindow {
  private start = 0;
  readonly size: number;

  constructor(private readonly names: readonly string[]) {
    this.size = feasibleNodesToFind(names.length);
  }

  next(): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.size; i++) out.push(this.names[(this.start + i) % this.names.length]!);
    this.start = (this.start + this.size) % this.names.length;
    return out;
  }
}

export interface ReplayRecord {
  filterMs: number[];
  prioritizeMs: number[];
  /** filter + prioritize: what the extender adds to the serial scheduling cycle. */
  cycleMs: number[];
  bindMs: number[];
  /** Pod name → the host the replay picked and asked /bind for. */
  picked: Map<string, string>;
  /** What went wrong: a non-200, a malformed answer, a bind that reported an error. */
  errors: string[];
}

export const emptyRecord = (): ReplayRecord => ({
  filterMs: [],
  prioritizeMs: [],
  cycleMs: [],
  bindMs: [],
  picked: new Map(),
  errors: [],
});

const MAX_ERRORS = 50;
const record = (into: ReplayRecord, error: string) => {
  if (into.errors.length < MAX_ERRORS) into.errors.push(error);
};
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** The names that passed, or why the answer is not a valid ExtenderFilterResult for `asked`. */
function passedNames(answer: Answer, asked: string[]): string[] | string {
  const body = answer.body as ExtenderFilterResult;
  if (answer.status !== 200) return `/filter: ${answer.status} ${JSON.stringify(answer.body)}`;
  if (!isObject(body) || body.Error !== '' || !Array.isArray(body.NodeNames) || !isObject(body.FailedNodes))
    return `/filter: not a valid ExtenderFilterResult: ${JSON.stringify(body).slice(0, 200)}`;
  const known = new Set(asked);
  if (!body.NodeNames.every((n) => known.has(n))) return '/filter: answered a node it was not asked about';
  return body.NodeNames;
}

/** The best-scored host (the first of equals), or why the answer is not a valid HostPriorityList. */
function bestHost(answer: Answer, asked: string[]): { host: string } | string {
  const list = answer.body as HostPriorityList;
  if (answer.status !== 200) return `/prioritize: ${answer.status} ${JSON.stringify(answer.body)}`;
  if (!Array.isArray(list) || list.length !== asked.length)
    return `/prioritize: not one score per node: ${JSON.stringify(list).slice(0, 200)}`;
  const known = new Set(asked);
  let best: { Host: string; Score: number } | undefined;
  for (const p of list) {
    if (
      !isObject(p) ||
      !known.has(p.Host) ||
      !Number.isInteger(p.Score) ||
      p.Score < 0 ||
      p.Score > EXTENDER_MAX_SCORE
    )
      return `/prioritize: not a valid HostPriority: ${JSON.stringify(p)}`;
    if (!best || p.Score > best.Score) best = p;
  }
  return best ? { host: best.Host } : '/prioritize: empty list';
}

export interface ReplayOptions {
  /** Binds in flight at most (kube-scheduler's binding goroutines). */
  bindConcurrency: number;
  /** performance.now() past which the replay gives up. */
  deadline: number;
}

/** Replays `pods` through the extender behind `client`, adding what it sees to `into`. */
export async function replayPods(
  client: ExtenderClient,
  pods: V1Pod[],
  window: NodeWindow,
  opts: ReplayOptions,
  into: ReplayRecord,
): Promise<void> {
  const binds = new Set<Promise<void>>();
  const bind = async (args: ExtenderBindingArgs) => {
    const answer = await client.post(EXTENDER_PATHS.bind, args);
    into.bindMs.push(answer.ms);
    const body = answer.body as { Error?: unknown };
    if (answer.status !== 200 || !isObject(body) || body.Error !== '')
      record(into, `/bind ${args.PodName} → ${args.Node}: ${answer.status} ${JSON.stringify(body)}`);
  };
  for (const pod of pods) {
    if (performance.now() > opts.deadline) {
      record(into, `time limit reached with pods left`);
      break;
    }
    const names = window.next();
    // kube-scheduler sends Nodes as Go's nil pointer when the extender is nodeCacheCapable.
    const filter = await client.post(EXTENDER_PATHS.filter, { Pod: pod, Nodes: null, NodeNames: names });
    const passed = passedNames(filter, names);
    if (typeof passed === 'string' || passed.length === 0) {
      record(into, typeof passed === 'string' ? passed : `/filter: no node passed for ${pod.metadata?.name}`);
      continue;
    }
    const prioritize = await client.post(EXTENDER_PATHS.prioritize, {
      Pod: pod,
      Nodes: null,
      NodeNames: passed,
    });
    const best = bestHost(prioritize, passed);
    if (typeof best === 'string') {
      record(into, best);
      continue;
    }
    into.filterMs.push(filter.ms);
    into.prioritizeMs.push(prioritize.ms);
    into.cycleMs.push(filter.ms + prioritize.ms);
    const name = pod.metadata?.name ?? '';
    into.picked.set(name, best.host);
    if (binds.size >= opts.bindConcurrency) await Promise.race(binds);
    const pending = bind({
      PodName: name,
      PodNamespace: pod.metadata!.namespace!,
      PodUID: pod.metadata!.uid!,
      Node: best.host,
    }).catch((err: unknown) => record(into, `/bind ${name}: ${(err as Error).message}`));
    binds.add(pending);
    void pending.finally(() => binds.delete(pending));
  }
  await Promise.all(binds);
}
