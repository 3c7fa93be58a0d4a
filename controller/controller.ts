// The controller: keeps Node and Pod caches from watches, and every sync period polls each node's
// agent and writes what moved onto the Node in one merge patch, while it holds the Lease.
import { CoreV1Api, type KubeConfig, PatchStrategy, type V1Node, type V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../common/clock.ts';
import type { Logger } from '../common/log.ts';
import { type SchedulerPolicy, hotValueHorizonMs } from '../common/policy.ts';
import { Reflector } from '../common/reflector.ts';
import type { AgentFailureReason, PatchFailureReason } from '../contracts/controller.ts';
import { DEFAULT_FUTURE_SKEW_MS } from '../common/policy-defaults.ts';
import { encodeGpuInventory, type GpuDevice, gpuNodeLabels } from '../contracts/gpu-inventory.ts';
import type { GpuStatistics, ParsedStatistics } from '../contracts/agent-api.ts';
import { agentUrl, pollAgent } from './agent-client.ts';
import { AgentEndpoints, type AgentServiceRef } from './agent-endpoints.ts';
import { type BackoffPolicy, backoffDelay, sleep } from './backoff.ts';
import { BindingTracker, bindingTimeMs } from './hot-value.ts';
import {
  type ApiFailure,
  classifyApiError,
  errorMessage,
  isTransient,
  requestOptions,
  reuseConnections,
} from '../common/kube.ts';
import { LeaderElector } from './leader.ts';
import type { ControllerMetrics } from './metrics.ts';
import { PeriodicRunner, forEachLimit } from './periodic.ts';
import { CycleConfirmations, SyncRecordWriter } from './sync-record.ts';
import { type Plan, type PlanInput, type PlanOptions, planNodePatch, planOptionsFor } from './plan.ts';

/** The inventory keeps what a GPU is, not what it does now: usage would rewrite it every cycle. */
function inventoryEntry(g: GpuStatistics): GpuDevice {
  return {
    index: g.index,
    uuid: g.uuid,
    model: g.model,
    memoryMiB: g.memoryMiB,
    mig: g.mig,
    healthy: g.healthy,
    links: g.links,
  };
}

export interface LeaderElectionConfig {
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
}

export interface ControllerConfig {
  kubeConfig: KubeConfig;
  policy: SchedulerPolicy;
  agentPort: number;
  /** `{ip}`, `{port}`, `{name}` are filled in per node. */
  agentUrlTemplate: string;
  syncPeriodMs: number;
  concurrency: number;
  /** Timeout of one agent request. */
  requestTimeoutMs: number;
  /** Timeout of one API request. */
  apiTimeoutMs: number;
  minChange: number;
  craneCompat: boolean;
  /** The zone crane reads its annotation times in; with craneCompat (default Asia/Shanghai). */
  craneTimeZone?: string;
  /** Find agents through this Service's EndpointSlices; the Node's InternalIP when absent. */
  agentService?: AgentServiceRef;
  /** Label selector limiting which Nodes are managed (all when absent). */
  nodeSelector?: string;
  /** Absent: run alone and always write. */
  leaderElection?: LeaderElectionConfig;
  /**
   * Namespace of the cluster-wide "synced up to" Lease written after every cycle (the extender
   * releases pending bindings by it); absent: not written.
   */
  syncRecordNamespace?: string;
  clock: Clock;
  logger: Logger;
  metrics: ControllerMetrics;
  /** API retries on 5xx, 429, timeouts and network errors. */
  apiBackoff?: BackoffPolicy;
  maxApiAttempts?: number;
  random?: () => number;
}

export interface SyncReport {
  /** False when this replica is not the leader and did nothing. */
  ran: boolean;
  nodes: number;
  polled: number;
  agentFailures: Partial<Record<AgentFailureReason, number>>;
  patched: number;
  unchanged: number;
  /** Refreshes of unchanged figures left for a later cycle (the refresh budget was spent). */
  deferred: number;
  patchFailures: Partial<Record<PatchFailureReason, number>>;
  durationMs: number;
}

type WriteOutcome = 'patched' | 'unchanged' | PatchFailureReason;

interface AgentTarget {
  url: string;
  nodeBoundAddress: boolean;
}

interface Refresh {
  name: string;
  plan: Plan;
  input: Pick<PlanInput, 'stats' | 'hotValue' | 'inventory'>;
}

const PATCH_FAILURE_OF: Readonly<Record<ApiFailure, PatchFailureReason>> = {
  conflict: 'conflict',
  not_found: 'not_found',
  server_error: 'server_error',
  throttled: 'server_error',
  timeout: 'timeout',
  network: 'network',
  rejected: 'rejected',
};

export class Controller {
  private readonly core: CoreV1Api;
  private readonly nodes: Reflector<V1Node>;
  private readonly pods: Reflector<V1Pod>;
  private readonly bindings: BindingTracker;
  private readonly elector: LeaderElector | undefined;
  private readonly endpoints: AgentEndpoints | undefined;
  private readonly runner: PeriodicRunner;
  private readonly syncRecord: SyncRecordWriter | undefined;
  private policy!: SchedulerPolicy;
  private planOptions!: PlanOptions;
  private readonly random: () => number;
  private readonly apiBackoff: BackoffPolicy;
  private started = false;
  private stopping = false;

  constructor(private readonly config: ControllerConfig) {
    this.random = config.random ?? Math.random;
    this.apiBackoff = config.apiBackoff ?? { initialMs: 200, maxMs: 5000 };
    this.core = reuseConnections(config.kubeConfig).makeApiClient(CoreV1Api);
    this.bindings = new BindingTracker(0);
    this.setPolicy(config.policy);
    const restarts = (resource: string) => (reason: string) =>
      config.metrics.watchRestarts.inc({ resource, reason });
    this.nodes = new Reflector<V1Node>({
      kubeConfig: config.kubeConfig,
      path: '/api/v1/nodes',
      labelSelector: config.nodeSelector,
      list: () =>
        this.core.listNode(
          { labelSelector: config.nodeSelector },
          requestOptions(Math.max(config.apiTimeoutMs, 60_000)),
        ),
      logger: config.logger.child({ watch: 'nodes' }),
      onEvent: () => config.metrics.nodes.set(this.nodes.size),
      onRestart: restarts('nodes'),
      random: this.random,
    });
    // Only bound pods matter, and only their binding time: no cache of pod objects is kept.
    this.pods = new Reflector<V1Pod>({
      kubeConfig: config.kubeConfig,
      path: '/api/v1/pods',
      fieldSelector: 'spec.nodeName!=',
      cache: false,
      list: () =>
        this.core.listPodForAllNamespaces(
          { fieldSelector: 'spec.nodeName!=' },
          requestOptions(Math.max(config.apiTimeoutMs, 60_000)),
        ),
      logger: config.logger.child({ watch: 'pods' }),
      onEvent: (type, pod) => this.onPod(type, pod),
      onRestart: restarts('pods'),
      random: this.random,
    });
    this.endpoints = config.agentService
      ? new AgentEndpoints(
          config.kubeConfig,
          config.agentService,
          config.logger.child({ watch: 'endpointslices' }),
          restarts('endpointslices'),
        )
      : undefined;
    this.syncRecord = config.syncRecordNamespace
      ? new SyncRecordWriter(
          config.kubeConfig,
          config.syncRecordNamespace,
          config.apiTimeoutMs,
          config.logger.child({ part: 'sync-record' }),
        )
      : undefined;
    if (config.leaderElection) {
      this.elector = new LeaderElector({
        kubeConfig: config.kubeConfig,
        ...config.leaderElection,
        clock: config.clock,
        logger: config.logger.child({ part: 'leader-election' }),
        onChange: (leading) => config.metrics.isLeader.set(leading ? 1 : 0),
      });
    } else {
      config.metrics.isLeader.set(1);
    }
    this.runner = new PeriodicRunner({
      periodMs: config.syncPeriodMs,
      task: async () => {
        await this.syncOnce();
      },
      onOverrun: (lateByMs) => {
        config.metrics.syncOverruns.inc();
        config.logger.warn({ lateByMs, syncPeriodMs: config.syncPeriodMs }, 'sync ran past its period');
      },
      onError: (err) => config.logger.error({ err: errorMessage(err) }, 'sync failed'),
    });
  }

  /** Applies a new policy from the next decision on (figures, validity, hot-value rule). */
  setPolicy(policy: SchedulerPolicy): void {
    this.policy = policy;
    this.planOptions = {
      ...planOptionsFor(policy, this.config.minChange, this.config.craneCompat),
      craneTimeZone: this.config.craneTimeZone,
    };
    this.bindings.setHorizon(hotValueHorizonMs(policy));
    // A reload that brings in a hot-value rule needs the Pod watch a start without one skipped.
    if (this.started && !this.stopping && policy.hotValue.length > 0) this.pods?.start();
  }

  /** Whether this replica may write now. */
  isLeader(): boolean {
    return this.elector ? this.elector.isLeader() : true;
  }

  /** True once the Node cache holds a full list. */
  get ready(): boolean {
    return this.nodes.synced;
  }

  /** Starts watches and leader election and waits for the first Node list; `loop: false` leaves syncing to the caller. */
  async start(options: { loop?: boolean; signal?: AbortSignal } = {}): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.stopping = false;
    this.nodes.start();
    this.endpoints?.start();
    if (this.policy.hotValue.length > 0) this.pods.start();
    this.elector?.start();
    await this.nodes.waitForSync(options.signal);
    await this.endpoints?.waitForSync(options.signal);
    if (options.loop !== false && !this.stopping) this.runner.start();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await this.runner.stop();
    await this.elector?.stop();
    await Promise.all([this.nodes.stop(), this.pods.stop(), this.endpoints?.stop()]);
    this.started = false;
  }

  /** Waits until the Pod watch has its first list (hot values are withheld until then). */
  waitForPods(signal?: AbortSignal): Promise<void> {
    return this.pods.waitForSync(signal);
  }

  /** One sync cycle over every cached node. */
  async syncOnce(): Promise<SyncReport> {
    const startedMs = this.config.clock.now();
    const wallStart = performance.now();
    const report: SyncReport = {
      ran: false,
      nodes: 0,
      polled: 0,
      agentFailures: {},
      patched: 0,
      unchanged: 0,
      deferred: 0,
      patchFailures: {},
      durationMs: 0,
    };
    if (!this.isLeader()) return report;
    report.ran = true;
    this.bindings.prune(startedMs);
    const nodes = this.nodes.list();
    report.nodes = nodes.length;
    // Retries stop at the end of the period, so a struggling API cannot stretch one cycle forever.
    const deadline = performance.now() + this.config.syncPeriodMs;
    const refreshes: Refresh[] = [];
    const cycle = new CycleConfirmations();
    const targets = this.agentTargets(nodes);
    await forEachLimit(nodes, this.config.concurrency, async (node) => {
      try {
        await this.syncNode(node, targets.get(node.metadata?.name ?? ''), report, deadline, refreshes, cycle);
      } catch (err: unknown) {
        cycle.failed(node.metadata?.name ?? '');
        this.config.logger.error({ node: node.metadata?.name, err: errorMessage(err) }, 'node sync failed');
      }
    });
    // Plain refreshes go oldest first, at most a budget per cycle: nodes written together (a
    // restart, a first sync) would otherwise come due together forever, one PATCH burst every
    // few minutes. Deferring is safe: a deferrable refresh has over a quarter of its validity left,
    // and the budget is twice the steady-state need, so the backlog clears within a few cycles.
    refreshes.sort((a, b) => a.plan.oldestWrittenMs - b.plan.oldestWrittenMs);
    const budget = this.refreshBudget(nodes.length);
    report.deferred = Math.max(0, refreshes.length - budget);
    await forEachLimit(refreshes.slice(0, budget), this.config.concurrency, async (r) => {
      try {
        this.record(report, await this.write(r.name, r.plan, r.input, deadline));
      } catch (err: unknown) {
        this.config.logger.error({ node: r.name, err: errorMessage(err) }, 'node refresh failed');
      }
    });
    // Deferred refreshes change no value: their nodes were confirmed when planned.
    const record = cycle.record();
    if (this.syncRecord && record && this.isLeader()) await this.syncRecord.write(record);
    report.durationMs = performance.now() - wallStart;
    this.config.metrics.syncs.inc();
    this.config.metrics.syncDuration.observe(report.durationMs / 1000);
    const failures = Object.values(report.agentFailures).reduce((a, b) => a + b, 0);
    this.config.logger[failures > 0 ? 'warn' : 'info'](
      {
        nodes: report.nodes,
        patched: report.patched,
        unchanged: report.unchanged,
        deferred: report.deferred,
        agentFailures: report.agentFailures,
        patchFailures: report.patchFailures,
        ms: Math.round(report.durationMs),
      },
      'sync done',
    );
    return report;
  }

  /**
   * Each node's agent URL this cycle, and whether its address is the node's alone: filled from the
   * node's own IP or agent endpoint ({ip} in the template) and shared with no other node (a reused
   * IP, a stale Node). Only such an address is trusted with a document that names no node.
   */
  private agentTargets(nodes: readonly V1Node[]): Map<string, AgentTarget> {
    const byNode = new Map<string, AgentTarget>();
    const users = new Map<string, number>();
    const hostOf = (url: string) => {
      try {
        return new URL(url).host;
      } catch {
        return url;
      }
    };
    for (const node of nodes) {
      const name = node.metadata?.name ?? '';
      const url = agentUrl(
        this.config.agentUrlTemplate,
        node,
        this.config.agentPort,
        this.endpoints?.get(name),
      );
      if (url === undefined) continue;
      byNode.set(name, { url, nodeBoundAddress: this.config.agentUrlTemplate.includes('{ip}') });
      users.set(hostOf(url), (users.get(hostOf(url)) ?? 0) + 1);
    }
    for (const target of byNode.values()) {
      if ((users.get(hostOf(target.url)) ?? 0) > 1) target.nodeBoundAddress = false;
    }
    return byNode;
  }

  private async syncNode(
    node: V1Node,
    target: AgentTarget | undefined,
    report: SyncReport,
    deadline: number,
    refreshes: Refresh[],
    cycle: CycleConfirmations,
  ): Promise<void> {
    const name = node.metadata?.name ?? '';
    let stats: PlanInput['stats'];
    let inventory: string | undefined;
    let gpuLabels: Record<string, string> | undefined;
    if (target === undefined) {
      this.countAgentFailure(report, 'no_address', name, 'the node has no InternalIP or ExternalIP');
    } else {
      const askedAtMs = this.config.clock.now();
      const result = await pollAgent(target.url, name, this.config.requestTimeoutMs, {
        nodeBoundAddress: target.nodeBoundAddress,
        now: () => this.config.clock.now(),
      });
      report.polled++;
      if (result.ok) {
        this.config.metrics.agentPolls.inc({ result: 'ok' });
        stats = {
          figures: result.stats.windows,
          measuredAtMs: this.measuredAt(name, askedAtMs, result.stats),
        };
        if (result.stats.gpus)
          inventory = encodeGpuInventory({ gpus: result.stats.gpus.map(inventoryEntry) });
        gpuLabels = gpuNodeLabels(result.stats.gpus ?? []);
      } else {
        this.config.metrics.agentPolls.inc({ result: 'failed' });
        this.countAgentFailure(report, result.reason, name, result.detail);
      }
    }
    const nowMs = this.config.clock.now();
    const hotValue = this.pods.synced ? this.bindings.hotValue(name, this.policy.hotValue, nowMs) : undefined;
    // Decide on the freshest copy: the cache may hold our own last PATCH answer.
    const current = this.nodes.get(name) ?? node;
    const input = { stats, hotValue, inventory, gpuLabels };
    const plan = planNodePatch(
      { annotations: current.metadata?.annotations, labels: current.metadata?.labels, ...input, nowMs },
      this.planOptions,
    );
    if (!plan) report.unchanged++;
    else if (plan.deferrable) refreshes.push({ name, plan, input });
    let outcome: WriteOutcome = 'unchanged';
    if (plan && !plan.deferrable) {
      outcome = await this.write(name, plan, input, deadline);
      this.record(report, outcome);
    }
    // Confirmed: the Node's figures are (now) within --min-change of this measurement.
    if (stats && (outcome === 'patched' || outcome === 'unchanged')) cycle.confirmed(stats.measuredAtMs);
    else cycle.failed(name);
  }

  /**
   * When the agent's figures were measured, by this controller's clock: the moment it asked minus
   * the sample age the agent reports. The agent served the document somewhere between asking and
   * the answer, so this errs old, never new. The agent's own `timestamp` is only compared, never
   * written: a node whose clock is a day fast would otherwise date its figures a day ahead, and no
   * honest figure could replace them until then.
   */
  private measuredAt(node: string, askedAtMs: number, stats: ParsedStatistics): number {
    const measuredAtMs = askedAtMs - stats.sampleAgeSeconds * 1000;
    const skewMs = stats.timestampMs - measuredAtMs;
    if (Math.abs(skewMs) > (this.planOptions.futureSkewMs ?? DEFAULT_FUTURE_SKEW_MS)) {
      this.config.metrics.agentClockSkewed.inc();
      this.config.logger.debug(
        { node, agentClockAheadSeconds: Math.round(skewMs / 1000) },
        "agent clock differs from the controller's; its figures are dated by the controller's clock",
      );
    }
    return measuredAtMs;
  }

  private record(report: SyncReport, outcome: WriteOutcome): void {
    if (outcome === 'patched') report.patched++;
    else if (outcome === 'unchanged') report.unchanged++;
    else {
      report.patchFailures[outcome] = (report.patchFailures[outcome] ?? 0) + 1;
      this.config.metrics.nodePatchFailures.inc({ reason: outcome });
    }
  }

  /** Refreshes allowed per cycle: twice what a steady state needs, never below the concurrency. */
  private refreshBudget(nodes: number): number {
    const validities = [...this.planOptions.validityMs.values(), this.planOptions.hotValueValidityMs];
    const refreshEveryMs = Math.min(...validities) / 2;
    return Math.max(
      this.config.concurrency,
      Math.ceil((2 * nodes * this.config.syncPeriodMs) / refreshEveryMs),
    );
  }

  private countAgentFailure(
    report: SyncReport,
    reason: AgentFailureReason,
    node: string,
    detail: string,
  ): void {
    report.agentFailures[reason] = (report.agentFailures[reason] ?? 0) + 1;
    this.config.metrics.agentFailures.inc({ reason });
    this.config.logger.debug({ node, reason, detail }, 'agent poll failed');
  }

  /**
   * One merge patch with the plan's annotations. 409: re-read the node, re-plan against what is
   * there now, and try again. 5xx, 429, timeouts, network errors: back off with jitter and retry,
   * until the attempts or the cycle's time run out. Anything else is given up and counted.
   */
  private async write(
    name: string,
    first: Plan,
    input: Pick<PlanInput, 'stats' | 'hotValue' | 'inventory' | 'gpuLabels'>,
    deadline: number,
  ): Promise<WriteOutcome> {
    const attempts = this.config.maxApiAttempts ?? 4;
    let plan = first;
    let failure: ApiFailure = 'server_error';
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (!this.isLeader()) return 'not_leader';
      try {
        const updated = await this.core.patchNode(
          {
            name,
            body: {
              metadata: {
                annotations: plan.annotations,
                ...(Object.keys(plan.labels).length > 0 ? { labels: plan.labels } : {}),
              },
            },
          },
          requestOptions(this.config.apiTimeoutMs, PatchStrategy.MergePatch),
        );
        this.nodes.offer(updated);
        this.config.metrics.nodePatches.inc();
        this.config.logger.debug({ node: name, reasons: plan.reasons }, 'node annotated');
        return 'patched';
      } catch (err: unknown) {
        failure = classifyApiError(err);
        if (attempt + 1 >= attempts) break;
        if (failure === 'conflict') {
          this.config.metrics.apiRetries.inc({ reason: 'conflict' });
          const fresh = await this.reread(name);
          if (fresh === 'not_found') return 'not_found';
          if (fresh === undefined) continue;
          const next = planNodePatch(
            {
              annotations: fresh.metadata?.annotations,
              labels: fresh.metadata?.labels,
              ...input,
              nowMs: this.config.clock.now(),
            },
            this.planOptions,
          );
          if (!next) return 'unchanged';
          plan = next;
          continue;
        }
        if (!isTransient(failure)) {
          this.config.logger.warn({ node: name, err: errorMessage(err) }, 'node patch rejected');
          return PATCH_FAILURE_OF[failure];
        }
        const delay = backoffDelay(attempt, this.apiBackoff, this.random);
        if (performance.now() + delay > deadline) break;
        this.config.metrics.apiRetries.inc({ reason: failure });
        this.config.logger.debug(
          { node: name, failure, retryInMs: Math.round(delay) },
          'node patch failed; retrying',
        );
        await sleep(delay);
      }
    }
    this.config.logger.warn({ node: name, failure }, 'node patch gave up');
    return PATCH_FAILURE_OF[failure];
  }

  private async reread(name: string): Promise<V1Node | 'not_found' | undefined> {
    try {
      const node = await this.core.readNode({ name }, requestOptions(this.config.apiTimeoutMs));
      this.nodes.offer(node);
      return node;
    } catch (err: unknown) {
      return classifyApiError(err) === 'not_found' ? 'not_found' : undefined;
    }
  }

  private onPod(type: string, pod: V1Pod): void {
    if (type === 'DELETED') return;
    const node = pod.spec?.nodeName;
    const uid = pod.metadata?.uid;
    if (!node || !uid) return;
    const at = bindingTimeMs(pod);
    if (at !== undefined) this.bindings.record(node, uid, at, this.config.clock.now());
  }
}
