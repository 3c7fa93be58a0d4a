// The three extender verbs over the node index and the scheduling core. No HTTP here: the server
// validates and routes, this decides.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
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
import {
  encodeVgpuAssignment,
  type GpuShare,
  VGPU_ASSIGNMENT_ANNOTATION,
  VGPU_ASSUME_TIME_ANNOTATION,
} from '../contracts/index.ts';
import { fgdCosts, fgdPlace, fgdScores } from './core/vgpu/fgd.ts';
import { fitPod, type GpuPolicy } from './core/vgpu/fit.ts';
import { RecentRequests } from './core/vgpu/recent-mix.ts';
import { type PodGpuRequest, podGpuRequest } from './core/vgpu/request.ts';
import type { GpuLedger } from './gpu-ledger.ts';
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
  /** vGPU placement: what is assigned where, how shares are placed, and the pod annotation write. */
  gpu?: {
    ledger: GpuLedger;
    policy: GpuPolicy;
    /** Merge-patches the pod's annotations; throws an Error that says why it failed. */
    annotatePod: (namespace: string, name: string, annotations: Record<string, string>) => Promise<void>;
    /**
     * Reads a pod from the API, for a bind of a pod this extender never filtered (it restarted,
     * or another replica filtered); throws an Error that says why it failed. Without it, such a
     * pod is bound without GPU placement.
     */
    readPod?: (namespace: string, name: string) => Promise<V1Pod>;
    /** The requests fgd measures fragmentation against (default: the last 1000 containers). */
    mix?: RecentRequests;
  };
}

/** Pods seen in filter/prioritize, so bind (which gets names only) knows what it binds. */
const DEMAND_CACHE_SIZE = 10_000;

interface SeenPod {
  uid: string;
  demand: PodDemand;
  /** The pod's GPU request, undefined for a CPU pod, or why it is malformed. */
  gpu: PodGpuRequest | undefined | string;
}

export class Extender {
  /** By namespace/name; the UID tells a recreated pod of the same name from the one seen before. */
  private readonly seen = new LRUCache<string, SeenPod>({ max: DEMAND_CACHE_SIZE });
  /** vGPU requests of the pods seen lately, once per pod: fgd's target workload. */
  readonly mix: RecentRequests;
  private lastAssumeMs = 0;

  constructor(private readonly deps: ExtenderDeps) {
    this.mix = deps.gpu?.mix ?? new RecentRequests();
  }

  filter(args: ExtenderArgs): ExtenderFilterResult {
    const now = this.deps.clock.now();
    const rules = this.deps.rules();
    const seen = this.remember(args);
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
        if (!verdict.ok) reject(name, verdict.reason, verdict.figure);
        else {
          const gpuReason = this.gpuMisfit(entry, seen.gpu);
          if (gpuReason) reject(name, gpuReason, 'gpu');
          else passed.push(name);
        }
      }
      return done({ NodeNames: passed, FailedNodes: failed, FailedAndUnresolvableNodes: {}, Error: '' });
    }
    const passed: V1Node[] = [];
    for (const node of args.Nodes?.items ?? []) {
      const entry = this.deps.nodes.fromObject(node);
      const verdict = filterByLoad(this.load(entry, now), rules, now);
      if (!verdict.ok) reject(entry.name, verdict.reason, verdict.figure);
      else {
        const gpuReason = this.gpuMisfit(entry, seen.gpu);
        if (gpuReason) reject(entry.name, gpuReason, 'gpu');
        else passed.push(node);
      }
    }
    return done({ Nodes: { items: passed }, FailedNodes: failed, FailedAndUnresolvableNodes: {}, Error: '' });
  }

  prioritize(args: ExtenderArgs): HostPriorityList {
    const now = this.deps.clock.now();
    const rules = this.deps.rules();
    const seen = this.remember(args);
    const demand = seen.demand;
    const entries: (NodeEntry | string)[] = args.NodeNames
      ? args.NodeNames.map((name) => this.deps.nodes.get(name) ?? name)
      : (args.Nodes?.items ?? []).map((node) => this.deps.nodes.fromObject(node));
    const request = seen.gpu;
    if (this.deps.gpu?.policy === 'fgd' && request !== undefined && typeof request !== 'string') {
      return this.prioritizeFgd(entries, request, demand, rules, now);
    }
    return entries.map((entry) =>
      typeof entry === 'string'
        ? { Host: entry, Score: 0 }
        : { Host: entry.name, Score: this.score(entry, seen, demand, rules, now) },
    );
  }

  /**
   * fgd: every candidate is placed by the fragmentation rule (one scratch fleet of the candidates,
   * core/vgpu/fgd.ts); the cheapest gets a GPU score of 10, costlier ones less (fgdScores), and the
   * node's score is the mean of its load score and its GPU score, as binpack/spread do. A
   * candidate the pod does not fit scores 0.
   */
  private prioritizeFgd(
    entries: (NodeEntry | string)[],
    request: PodGpuRequest,
    demand: PodDemand,
    rules: LoadRules,
    now: number,
  ): HostPriorityList {
    const ledger = this.deps.gpu!.ledger;
    const known: NodeEntry[] = [];
    for (const e of entries) if (typeof e !== 'string') known.push(e);
    const costs = fgdCosts(
      known.map((e) => ({ gpus: e.gpus, used: ledger.usage(e.name) })),
      request,
      this.mix.model(),
    );
    const gpuScores = fgdScores(costs);
    let k = 0;
    return entries.map((entry) => {
      if (typeof entry === 'string') return { Host: entry, Score: 0 };
      const i = k++;
      if (Number.isNaN(costs[i])) return { Host: entry.name, Score: 0 };
      const load = scoreByLoad(this.load(entry, now), demand, rules, now);
      return { Host: entry.name, Score: Math.round((load.exact + gpuScores[i]!) / 2) };
    });
  }

  /** The load score; for a GPU pod, averaged with how well its GPUs pack on the node. */
  private score(entry: NodeEntry, seen: SeenPod, demand: PodDemand, rules: LoadRules, now: number): number {
    const load = scoreByLoad(this.load(entry, now), demand, rules, now);
    const gpu = this.deps.gpu;
    if (!gpu || seen.gpu === undefined || typeof seen.gpu === 'string') return load.score;
    const fit = fitPod(gpu.ledger.free(entry.name, entry.gpus), seen.gpu, gpu.policy);
    if (!fit.ok) return 0;
    const gpuScore = (gpu.policy === 'binpack' ? fit.fill : 1 - fit.fill) * 10;
    return Math.round((load.exact + gpuScore) / 2);
  }

  /** Why the node cannot host the pod's GPU request, or undefined when it can (or the pod has none). */
  private gpuMisfit(entry: NodeEntry, request: SeenPod['gpu']): string | undefined {
    if (request === undefined) return undefined;
    if (typeof request === 'string') return request;
    if (!this.deps.gpu) return 'the extender runs without vGPU placement';
    const fit = fitPod(this.deps.gpu.ledger.free(entry.name, entry.gpus), request, this.deps.gpu.policy);
    return fit.ok ? undefined : fit.reason;
  }

  async bind(args: ExtenderBindingArgs): Promise<ExtenderBindingResult> {
    const pod = `${args.PodNamespace}/${args.PodName}`;
    let seen = this.seen.get(pod);
    const readPod = this.deps.gpu?.readPod;
    // Never filtered here (a restart, another replica), or a different pod of the same name: read
    // it, so a vGPU pod never gets its Binding without its GPU assignment.
    if (readPod && (!seen || (seen.uid !== '' && args.PodUID && seen.uid !== args.PodUID))) {
      try {
        seen = this.learn(pod, await readPod(args.PodNamespace, args.PodName));
      } catch (err) {
        const message = `binding ${pod} to ${args.Node}: reading the pod: ${(err as Error).message}`;
        this.deps.logger.warn({ pod, node: args.Node, err: (err as Error).message }, 'bind failed');
        this.deps.events.bound('error');
        return { Error: message };
      }
    }
    const request = seen?.gpu;
    let assigned: Record<string, GpuShare[]> | undefined;
    let assumeMs = 0;
    if (request !== undefined) {
      assumeMs = this.assumeStamp();
      const placed = this.placeGpus(args, request, assumeMs);
      if (typeof placed === 'string') {
        this.deps.events.bound('error');
        return { Error: `binding ${pod} to ${args.Node}: ${placed}` };
      }
      assigned = placed;
    }
    try {
      if (assigned) {
        await this.deps.gpu!.annotatePod(args.PodNamespace, args.PodName, {
          [VGPU_ASSIGNMENT_ANNOTATION]: encodeVgpuAssignment({ containers: assigned }),
          [VGPU_ASSUME_TIME_ANNOTATION]: String(assumeMs),
        });
      }
      await this.deps.bindPod(args);
    } catch (err) {
      if (assigned) this.deps.gpu!.ledger.forget(args.PodNamespace, args.PodName);
      const message = `binding ${pod} to ${args.Node}: ${(err as Error).message}`;
      this.deps.logger.warn({ pod, node: args.Node, err: (err as Error).message }, 'bind failed');
      this.deps.events.bound('error');
      return { Error: message };
    }
    // Count the pod on its node at once: the next filter in this burst must see it.
    const demand = seen?.demand ?? { cpuCores: 0, memoryBytes: 0 };
    this.deps.recent.record(args.Node, { pod, boundAtMs: this.deps.clock.now(), demand });
    this.deps.events.bound('ok');
    return { Error: '' };
  }

  /**
   * Chooses the GPUs on the bind's node and holds them at once (before any await), so a concurrent
   * bind sees them taken. Returns why not when the node can no longer take the pod.
   */
  private placeGpus(
    args: ExtenderBindingArgs,
    request: PodGpuRequest | string,
    assumeMs: number,
  ): Record<string, GpuShare[]> | string {
    if (typeof request === 'string') return request;
    const gpu = this.deps.gpu;
    if (!gpu) return 'the extender runs without vGPU placement';
    const entry = this.deps.nodes.get(args.Node);
    if (!entry) return UNKNOWN_NODE_REASON;
    const free = gpu.ledger.free(entry.name, entry.gpus);
    // The fit check decides whether the node can take the pod (and says why not) under every policy.
    const fit = fitPod(free, request, gpu.policy);
    if (!fit.ok) return `the node can no longer take the pod: ${fit.reason}`;
    let containers = fit.containers;
    if (gpu.policy === 'fgd') {
      // The GPUs the same rule chose in prioritize: the choice inside a node depends only on the
      // node and the mix. Both check the same fit; should fgd still find nothing, the fit's stands.
      const [placed] = fgdPlace(
        [{ gpus: entry.gpus, used: gpu.ledger.usage(entry.name) }],
        request,
        this.mix.model(),
      );
      if (placed?.ok) containers = placed.containers;
    }
    gpu.ledger.assume(args.PodNamespace, args.PodName, args.Node, containers, assumeMs);
    return containers;
  }

  /**
   * The assume time of a bind: the clock, but strictly after the previous bind's. The device plugin
   * matches kubelet's Allocate to the pod with the oldest assume time (kubelet admits pods in bind
   * order), so two identical pods bound in the same millisecond must not tie, or they could get
   * each other's GPUs.
   */
  private assumeStamp(): number {
    this.lastAssumeMs = Math.max(this.deps.clock.now(), this.lastAssumeMs + 1);
    return this.lastAssumeMs;
  }

  private remember(args: ExtenderArgs): SeenPod {
    const meta = args.Pod.metadata;
    const key = `${meta?.namespace ?? 'default'}/${meta?.name ?? ''}`;
    const uid = meta?.uid ?? '';
    const cached = this.seen.get(key);
    if (cached && cached.uid === uid) return cached;
    return this.learn(key, args.Pod);
  }

  /** Parses a pod not seen before, and counts its vGPU request in the mix (once per pod). */
  private learn(key: string, pod: V1Pod): SeenPod {
    const parsed = podGpuRequest(pod);
    const seen: SeenPod = {
      uid: pod.metadata?.uid ?? '',
      demand: podDemand(pod),
      gpu: parsed.ok ? parsed.request : parsed.error,
    };
    if (parsed.ok && parsed.request) this.mix.recordPod(parsed.request);
    this.seen.set(key, seen);
    return seen;
  }

  private load(entry: NodeEntry, now: number): NodeLoad {
    return {
      figures: entry.figures,
      allocatable: entry.allocatable,
      bindings: this.deps.recent.forNode(entry.name, now),
    };
  }
}
