// The three extender verbs over the node index and the scheduling core. No HTTP here: the server
// validates and routes, this decides.
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { LRUCache } from 'lru-cache';
import type {
  BindRefusalReason,
  ExtenderArgs,
  ExtenderBindingArgs,
  ExtenderBindingResult,
  ExtenderFilterResult,
  HostPriorityList,
  StaleFigureReason,
} from '../contracts/index.ts';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/log.ts';
import { type PodDemand, podDemand } from './core/load/demand.ts';
import { isDaemonSetPod } from './core/load/daemonset.ts';
import { filterByLoad, type NodeLoad, scoreByLoad, type StaleObserver } from './core/load/index.ts';
import type { RecentBindings } from './core/load/recent-bindings.ts';
import type { LoadRules } from './core/load/rules.ts';
import {
  encodeVgpuAssignment,
  type GpuShare,
  VGPU_ASSIGNMENT_ANNOTATION,
  VGPU_ASSUME_TIME_ANNOTATION,
} from '../contracts/index.ts';
import type { GpuPolicy } from './core/vgpu-fit/fit.ts';
import { RecentRequests } from './core/vgpu-fit/recent-mix.ts';
import { type PodGpuRequest, podGpuRequest } from './core/vgpu-fit/request.ts';
import { bindRefusal, refuseWithoutUid } from './bind-guard.ts';
import type { GpuLedger } from './gpu-ledger.ts';
import { type GpuPlacementPolicy, gpuPlacementPolicy } from './gpu-policies.ts';
import type { NodeEntry, NodeIndex } from './node-index.ts';

export const UNKNOWN_NODE_REASON = 'node not in the extender cache (not yet seen, or deleted)';

export interface ExtenderEvents {
  rejected(reason: string, count: number): void;
  /** Figures read and not believed during one verb call, by reason. */
  stale(verb: 'filter' | 'prioritize', reason: StaleFigureReason, count: number): void;
  bound(result: 'ok' | 'error'): void;
  /** A bind refused on the pod's own record (counted besides `bound('error')`). */
  bindRefused(reason: BindRefusalReason): void;
}

export interface ExtenderDeps {
  nodes: NodeIndex;
  recent: RecentBindings;
  clock: Clock;
  rules: () => LoadRules;
  /**
   * Creates the Binding through the API, with the pod's UID as its precondition and `annotations`
   * in its metadata (the API server sets them on the pod in the same write as the node); throws an
   * Error whose message says why it failed.
   */
  bindPod: (args: ExtenderBindingArgs, annotations?: Record<string, string>) => Promise<void>;
  /**
   * Reads the pod from the API server (undefined when it does not exist); throws an Error that
   * says why it could not. Bind decides on this record, never on a /filter body.
   */
  readPod: (namespace: string, name: string) => Promise<V1Pod | undefined>;
  /**
   * Pending pods as a watch last delivered them (see pending-pods.ts for why a stale record is
   * safe): a hit with the UID named saves the read; a miss falls back to `readPod`.
   */
  pending?: {
    get(namespace: string, name: string, uid: string): V1Pod | undefined;
    forget(namespace: string, name: string, boundUid?: string): void;
  };
  /** The `spec.schedulerName`s whose pods this extender binds. */
  schedulerNames: ReadonlySet<string>;
  /**
   * When the controller last confirmed a node's figures (its "synced up to" record) as of `nowMs`
   * (the verb call's one clock reading: a clock read per candidate node cost more than the rule
   * applied to it); NaN: unknown.
   */
  confirmedAt?: (node: string, nowMs: number) => number;
  events: ExtenderEvents;
  logger: Logger;
  /** vGPU placement: what is assigned where and how shares are placed (written with the Binding). */
  gpu?: {
    ledger: GpuLedger;
    policy: GpuPolicy;
    /** The requests fgd measures fragmentation against (default: the last 1000 containers). */
    mix?: RecentRequests;
  };
}

/**
 * Pods seen in filter/prioritize, parsed once per pod for the calls that follow and counted once
 * in the mix. Bind never reads it: a /filter body is the caller's word, not the API server's.
 */
const DEMAND_CACHE_SIZE = 10_000;

interface SeenPod {
  uid: string;
  demand: PodDemand;
  /** The pod's GPU request, undefined for a CPU pod, or why it is malformed. */
  gpu: PodGpuRequest | undefined | string;
  /** A DaemonSet's pod: it passes the load filter (crane's rule), not the GPU fit. */
  daemonSet: boolean;
}

/** Counts stale figures over one verb call; reported once per reason, not per node. */
class StaleTally {
  private readonly counts = new Map<StaleFigureReason, number>();
  readonly observe: StaleObserver = (_figure, reason) => {
    this.counts.set(reason, (this.counts.get(reason) ?? 0) + 1);
  };
  report(verb: 'filter' | 'prioritize', events: ExtenderEvents): void {
    for (const [reason, count] of this.counts) events.stale(verb, reason, count);
  }
}

export class Extender {
  /** By namespace/name; the UID tells a recreated pod of the same name from the one seen before. */
  private readonly seen = new LRUCache<string, SeenPod>({ max: DEMAND_CACHE_SIZE });
  /** vGPU requests of the pods seen lately, once per pod: fgd's target workload. */
  readonly mix: RecentRequests;
  private lastAssumeMs = 0;

  /** The vGPU placement policy, chosen once (undefined: the extender runs without vGPU placement). */
  private readonly gpuPolicy: GpuPlacementPolicy | undefined;

  constructor(private readonly deps: ExtenderDeps) {
    this.mix = deps.gpu?.mix ?? new RecentRequests();
    this.gpuPolicy = deps.gpu && gpuPlacementPolicy(deps.gpu.policy, deps.gpu.ledger, this.mix);
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
    const stale = new StaleTally();
    const done = <T extends ExtenderFilterResult>(result: T): T => {
      for (const [label, count] of rejections) this.deps.events.rejected(label, count);
      stale.report('filter', this.deps.events);
      return result;
    };
    const loadVerdict = (entry: NodeEntry) =>
      seen.daemonSet
        ? ({ ok: true } as const)
        : filterByLoad(this.load(entry, now), rules, now, stale.observe);
    if (args.NodeNames) {
      const passed: string[] = [];
      for (const name of args.NodeNames) {
        const entry = this.deps.nodes.get(name);
        if (!entry) {
          reject(name, UNKNOWN_NODE_REASON, 'unknown_node');
          continue;
        }
        // FailedNodes is keyed by the cached entry's name, the same text as the request's: a
        // string already used as a property key is V8's internalized one, while each request's
        // fresh copy would be looked up in the string table first (measured: half the cost of
        // building the map of ~240 failed nodes).
        const verdict = loadVerdict(entry);
        if (!verdict.ok) reject(entry.name, verdict.reason, verdict.figure);
        else {
          const gpuReason = this.gpuMisfit(entry, seen.gpu);
          if (gpuReason) reject(entry.name, gpuReason, 'gpu');
          else passed.push(name);
        }
      }
      return done({ NodeNames: passed, FailedNodes: failed, FailedAndUnresolvableNodes: {}, Error: '' });
    }
    const passed: V1Node[] = [];
    for (const node of args.Nodes?.items ?? []) {
      const entry = this.deps.nodes.fromObject(node);
      const verdict = loadVerdict(entry);
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
    const stale = new StaleTally();
    const loadScore = (entry: NodeEntry) =>
      scoreByLoad(this.load(entry, now), demand, rules, now, stale.observe).exact;
    let result: HostPriorityList;
    if (this.gpuPolicy && request !== undefined && typeof request !== 'string') {
      result = this.prioritizeGpu(this.gpuPolicy, entries, request, loadScore);
    } else {
      result = entries.map((entry) =>
        typeof entry === 'string'
          ? { Host: entry, Score: 0 }
          : { Host: entry.name, Score: Math.round(loadScore(entry)) },
      );
    }
    stale.report('prioritize', this.deps.events);
    return result;
  }

  /**
   * A vGPU pod: a node's score is the mean of its load score and the policy's GPU score
   * (gpu-policies.ts); a candidate the pod does not fit scores 0.
   */
  private prioritizeGpu(
    policy: GpuPlacementPolicy,
    entries: (NodeEntry | string)[],
    request: PodGpuRequest,
    loadScore: (entry: NodeEntry) => number,
  ): HostPriorityList {
    const known: NodeEntry[] = [];
    for (const e of entries) if (typeof e !== 'string') known.push(e);
    const gpuScores = policy.gpuScores(known, request);
    let k = 0;
    return entries.map((entry) => {
      if (typeof entry === 'string') return { Host: entry, Score: 0 };
      const gpuScore = gpuScores[k++]!;
      if (Number.isNaN(gpuScore)) return { Host: entry.name, Score: 0 };
      return { Host: entry.name, Score: Math.round((loadScore(entry) + gpuScore) / 2) };
    });
  }

  /** Why the node cannot host the pod's GPU request, or undefined when it can (or the pod has none). */
  private gpuMisfit(entry: NodeEntry, request: SeenPod['gpu']): string | undefined {
    if (request === undefined) return undefined;
    if (typeof request === 'string') return request;
    if (!this.gpuPolicy) return 'the extender runs without vGPU placement';
    const fit = this.gpuPolicy.fit(entry, request);
    return fit.ok ? undefined : fit.reason;
  }

  /**
   * Binds the pod kube-scheduler chose a node for. The pod is taken from the pending-pod watch
   * (or read from the API server when the watch has no pod with that UID) and bound only when it
   * exists with the UID named, is not bound yet and belongs to a scheduler this extender serves;
   * its GPUs are placed from that record and written as annotations of the Binding itself, which
   * carries the UID, so a pod recreated under the same name meanwhile is refused by the API server.
   */
  async bind(args: ExtenderBindingArgs): Promise<ExtenderBindingResult> {
    const pod = `${args.PodNamespace}/${args.PodName}`;
    const fail = (message: string, reason?: BindRefusalReason): ExtenderBindingResult => {
      if (reason) this.deps.events.bindRefused(reason);
      this.deps.events.bound('error');
      this.deps.logger.warn(
        { pod, uid: args.PodUID, node: args.Node, reason, err: message },
        reason ? 'bind refused' : 'bind failed',
      );
      return { Error: `binding ${pod} to ${args.Node}: ${message}` };
    };
    const early = refuseWithoutUid(args);
    if (early) return fail(early.message, early.reason);
    let live = this.deps.pending?.get(args.PodNamespace, args.PodName, args.PodUID);
    if (!live) {
      try {
        live = await this.deps.readPod(args.PodNamespace, args.PodName);
      } catch (err) {
        return fail(`reading the pod: ${(err as Error).message}`);
      }
    }
    const refusal = bindRefusal(args, live, this.deps.schedulerNames);
    if (refusal || !live) return fail(refusal?.message ?? 'refused', refusal?.reason);
    const parsed = podGpuRequest(live);
    const request = parsed.ok ? parsed.request : parsed.error;
    let assigned: Record<string, GpuShare[]> | undefined;
    let assumeMs = 0;
    if (request !== undefined) {
      assumeMs = this.assumeStamp();
      const placed = this.placeGpus(args, request, assumeMs);
      if (typeof placed === 'string') return fail(placed);
      assigned = placed;
    }
    try {
      // One write: the agent never sees the pod bound without its assignment (nor assigned unbound).
      await this.deps.bindPod(
        args,
        assigned && {
          [VGPU_ASSIGNMENT_ANNOTATION]: encodeVgpuAssignment({ containers: assigned }),
          [VGPU_ASSUME_TIME_ANNOTATION]: String(assumeMs),
        },
      );
    } catch (err) {
      if (assigned) this.deps.gpu!.ledger.forget(args.PodNamespace, args.PodName);
      // The API server knows better than the record (bound or deleted meanwhile): read it next time.
      this.deps.pending?.forget(args.PodNamespace, args.PodName);
      return fail((err as Error).message);
    }
    this.deps.pending?.forget(args.PodNamespace, args.PodName, args.PodUID);
    // Count the pod on its node at once: the next filter in this burst must see it.
    this.deps.recent.record(args.Node, { pod, boundAtMs: this.deps.clock.now(), demand: podDemand(live) });
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
    const policy = this.gpuPolicy;
    if (!policy) return 'the extender runs without vGPU placement';
    const entry = this.deps.nodes.get(args.Node);
    if (!entry) return UNKNOWN_NODE_REASON;
    // The fit check decides whether the node can take the pod (and says why not) under every policy.
    const fit = policy.fit(entry, request);
    if (!fit.ok) return `the node can no longer take the pod: ${fit.reason}`;
    const containers = policy.place(entry, request, fit);
    this.deps.gpu!.ledger.assume(args.PodNamespace, args.PodName, args.Node, containers, assumeMs);
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
      daemonSet: isDaemonSetPod(pod),
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
      confirmedMs: this.deps.confirmedAt?.(entry.name, now),
    };
  }
}
