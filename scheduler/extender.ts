// The three extender verbs over the node index and the scheduling core. No HTTP here: the server
// validates and routes, this decides.
import type { V1Node } from '@kubernetes/client-node';
import { LRUCache } from 'lru-cache';
import type {
  ExtenderArgs,
  ExtenderBindingArgs,
  ExtenderBindingResult,
  ExtenderFilterResult,
  HostPriorityList,
} from '../contracts/index.ts';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/log.ts';
import { type PodDemand, podDemand } from './core/load/demand.ts';
import { filterByLoad, type NodeLoad, scoreByLoad } from './core/load/load-rules.ts';
import type { RecentBindings } from './core/load/recent-bindings.ts';
import type { LoadRules } from './core/load/rules.ts';
import type { NodeEntry, NodeIndex } from './node-index.ts';

export const UNKNOWN_NODE_REASON = 'node not in the extender cache (not yet seen, or deleted)';

export interface ExtenderEvents {
  rejected(reason: string, count: number): void;
  bound(result: 'ok' | 'error'): void;
}

export interface ExtenderDeps {
  nodes: NodeIndex;
  recent: RecentBindings;
  clock: Clock;
  rules: () => LoadRules;
  /** Creates the Binding through the API; throws an Error whose message says why it failed. */
  bindPod: (args: ExtenderBindingArgs) => Promise<void>;
  events: ExtenderEvents;
  logger: Logger;
}

/** Pods seen in filter/prioritize, so bind (which gets names only) knows what it binds. */
const DEMAND_CACHE_SIZE = 10_000;

interface SeenPod {
  uid: string;
  demand: PodDemand;
}

export class Extender {
  /** By namespace/name; the UID tells a recreated pod of the same name from the one seen before. */
  private readonly seen = new LRUCache<string, SeenPod>({ max: DEMAND_CACHE_SIZE });

  constructor(private readonly deps: ExtenderDeps) {}

  filter(args: ExtenderArgs): ExtenderFilterResult {
    const now = this.deps.clock.now();
    const rules = this.deps.rules();
    this.remember(args);
    const failed: Record<string, string> = {};
    // Counted once per label per call: a metric update per rejected node would dominate the call.
    const rejections = new Map<string, number>();
    const reject = (name: string, reason: string, label: string) => {
      failed[name] = reason;
      rejections.set(label, (rejections.get(label) ?? 0) + 1);
    };
    const done = <T extends ExtenderFilterResult>(result: T): T => {
      for (const [label, count] of rejections) this.deps.events.rejected(label, count);
      return result;
    };
    if (args.NodeNames) {
      const passed: string[] = [];
      for (const name of args.NodeNames) {
        const entry = this.deps.nodes.get(name);
        if (!entry) {
          reject(name, UNKNOWN_NODE_REASON, 'unknown_node');
          continue;
        }
        const verdict = filterByLoad(this.load(entry, now), rules, now);
        if (verdict.ok) passed.push(name);
        else reject(name, verdict.reason, verdict.figure);
      }
      return done({ NodeNames: passed, FailedNodes: failed, FailedAndUnresolvableNodes: {}, Error: '' });
    }
    const passed: V1Node[] = [];
    for (const node of args.Nodes?.items ?? []) {
      const entry = this.deps.nodes.fromObject(node);
      const verdict = filterByLoad(this.load(entry, now), rules, now);
      if (verdict.ok) passed.push(node);
      else reject(entry.name, verdict.reason, verdict.figure);
    }
    return done({ Nodes: { items: passed }, FailedNodes: failed, FailedAndUnresolvableNodes: {}, Error: '' });
  }

  prioritize(args: ExtenderArgs): HostPriorityList {
    const now = this.deps.clock.now();
    const rules = this.deps.rules();
    const demand = this.remember(args);
    const entries: (NodeEntry | string)[] = args.NodeNames
      ? args.NodeNames.map((name) => this.deps.nodes.get(name) ?? name)
      : (args.Nodes?.items ?? []).map((node) => this.deps.nodes.fromObject(node));
    return entries.map((entry) =>
      typeof entry === 'string'
        ? { Host: entry, Score: 0 }
        : { Host: entry.name, Score: scoreByLoad(this.load(entry, now), demand, rules, now).score },
    );
  }

  async bind(args: ExtenderBindingArgs): Promise<ExtenderBindingResult> {
    const pod = `${args.PodNamespace}/${args.PodName}`;
    try {
      await this.deps.bindPod(args);
    } catch (err) {
      const message = `binding ${pod} to ${args.Node}: ${(err as Error).message}`;
      this.deps.logger.warn({ pod, node: args.Node, err: (err as Error).message }, 'bind failed');
      this.deps.events.bound('error');
      return { Error: message };
    }
    // Count the pod on its node at once: the next filter in this burst must see it.
    const demand = this.seen.get(pod)?.demand ?? { cpuCores: 0, memoryBytes: 0 };
    this.deps.recent.record(args.Node, { pod, boundAtMs: this.deps.clock.now(), demand });
    this.deps.events.bound('ok');
    return { Error: '' };
  }

  private remember(args: ExtenderArgs): PodDemand {
    const meta = args.Pod.metadata;
    const key = `${meta?.namespace ?? 'default'}/${meta?.name ?? ''}`;
    const uid = meta?.uid ?? '';
    const cached = this.seen.get(key);
    if (cached && cached.uid === uid) return cached.demand;
    const demand = podDemand(args.Pod);
    this.seen.set(key, { uid, demand });
    return demand;
  }

  private load(entry: NodeEntry, now: number): NodeLoad {
    return {
      figures: entry.figures,
      allocatable: entry.allocatable,
      bindings: this.deps.recent.forNode(entry.name, now),
    };
  }
}
