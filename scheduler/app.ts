// The extender assembled: Node watch → node index, policy → rules, verbs, HTTP. Nothing global,
// so tests run it in-process against the API-server double exactly as the command runs it.
import { CoreV1Api, type KubeConfig, type V1Node, type V1Pod } from '@kubernetes/client-node';
import type { Server as TlsServer } from 'node:tls';
import type { FastifyInstance } from 'fastify';
import { DEFAULT_SCHEDULER_NAME, type ExtenderBindingArgs } from '../contracts/index.ts';
import type { Clock } from '../common/clock.ts';
import type { ServerTimeouts } from '../common/http.ts';
import type { Logger } from '../common/log.ts';
import { secureContextOptions, type TlsMaterial } from '../common/tls.ts';
import type { PolicyResult, SchedulerPolicy } from '../common/policy.ts';
import { Reflector } from '../common/reflector.ts';
import { apiStatus, errorMessage, requestOptions, reuseConnections } from '../common/kube.ts';
import { RecentBindings } from './core/load/recent-bindings.ts';
import type { LoadRules } from './core/load/rules.ts';
import type { GpuPolicy } from './core/vgpu-fit/fit.ts';
import { DEFAULT_RECENT_REQUESTS, RecentRequests } from './core/vgpu-fit/recent-mix.ts';
import { Extender } from './extender.ts';
import { GpuLedger } from './gpu-ledger.ts';
import { ExtenderMetrics } from './metrics.ts';
import { NodeIndex } from './node-index.ts';
import { bindingHorizonMs, rulesFromPolicy } from './policy-rules.ts';
import { createBinding } from './binding.ts';
import { PendingPods } from './pending-pods.ts';
import { createExtenderServer } from './server.ts';
import { SyncRecordWatch } from './sync-record.ts';

export interface SchedulerAppOptions {
  kubeConfig: KubeConfig;
  policy: SchedulerPolicy;
  /** Read crane-scheduler's bare annotation keys too. */
  craneKeys: boolean;
  /** The zone crane-scheduler's annotation times are in (crane's TZ); default Asia/Shanghai. */
  craneTimeZone?: string;
  clock: Clock;
  logger: Logger;
  apiTimeoutMs: number;
  /** Serve HTTPS; with `ca`, mutual TLS: only clients with a certificate signed by it reach the verbs. */
  https?: TlsMaterial;
  /** Overrides of the HTTP server's request, header and keep-alive timeouts. */
  timeouts?: Partial<ServerTimeouts>;
  /** How vGPU pods are scored and their shares placed (default fgd). */
  gpuPolicy?: GpuPolicy;
  /** How many recent vGPU container requests fgd measures fragmentation against (default 1000). */
  recentRequests?: number;
  /** The `spec.schedulerName`s whose pods `/bind` binds (default: loadwise-scheduler). */
  schedulerNames?: readonly string[];
  /** Namespace of the controller's "synced up to" Lease; absent: go by annotation timestamps alone. */
  syncRecordNamespace?: string;
}

/** An own GPU assignment the Pod watch never confirmed is dropped after this long. */
const ASSUMED_GPU_HORIZON_MS = 10 * 60_000;

export class SchedulerApp {
  readonly metrics = new ExtenderMetrics();
  readonly nodes: NodeIndex;
  readonly recent: RecentBindings;
  readonly extender: Extender;
  readonly server: FastifyInstance;
  readonly ledger = new GpuLedger();
  private readonly watch: Reflector<V1Node>;
  private readonly podWatch: Reflector<V1Pod>;
  /** Pending pods of the schedulers served, so most binds need no read of the pod. */
  readonly pending: PendingPods;
  private readonly syncRecord: SyncRecordWatch | undefined;
  private rules: LoadRules;
  private pruneTimer: NodeJS.Timeout | undefined;

  constructor(private readonly opts: SchedulerAppOptions) {
    this.rules = rulesFromPolicy(opts.policy);
    this.recent = new RecentBindings(bindingHorizonMs(this.rules));
    this.nodes = new NodeIndex({ craneKeys: opts.craneKeys, craneTimeZone: opts.craneTimeZone });
    const core = reuseConnections(opts.kubeConfig).makeApiClient(CoreV1Api);
    this.watch = new Reflector<V1Node>({
      kubeConfig: opts.kubeConfig,
      path: '/api/v1/nodes',
      list: () => core.listNode({}, requestOptions(Math.max(opts.apiTimeoutMs, 60_000))),
      logger: opts.logger.child({ watch: 'nodes' }),
      onEvent: (type, node) => {
        if (type === 'DELETED') this.nodes.delete(node.metadata?.name ?? '');
        else this.nodes.upsert(node);
        this.metrics.cachedNodes.set(this.nodes.size);
      },
    });
    // Bound pods only, and only their GPU assignments: no pod objects are kept.
    this.podWatch = new Reflector<V1Pod>({
      kubeConfig: opts.kubeConfig,
      path: '/api/v1/pods',
      fieldSelector: 'spec.nodeName!=',
      cache: false,
      list: () =>
        core.listPodForAllNamespaces(
          { fieldSelector: 'spec.nodeName!=' },
          requestOptions(Math.max(opts.apiTimeoutMs, 60_000)),
        ),
      logger: opts.logger.child({ watch: 'pods' }),
      onEvent: (type, pod) => {
        this.ledger.onPod(type, pod);
        const phase = pod.status?.phase;
        if ((type === 'DELETED' || phase === 'Succeeded' || phase === 'Failed') && pod.spec?.nodeName) {
          this.recent.departed(pod.spec.nodeName, `${pod.metadata?.namespace}/${pod.metadata?.name}`);
        }
      },
    });
    const readPod = async (namespace: string, name: string) => {
      try {
        return await core.readNamespacedPod({ name, namespace }, requestOptions(opts.apiTimeoutMs));
      } catch (err) {
        if (apiStatus(err) === 404) return undefined;
        throw new Error(errorMessage(err));
      }
    };
    const bindPod = async (args: ExtenderBindingArgs, annotations?: Record<string, string>) => {
      try {
        await createBinding(core, args, opts.apiTimeoutMs, annotations);
      } catch (err) {
        throw new Error(errorMessage(err));
      }
    };
    this.syncRecord = opts.syncRecordNamespace
      ? new SyncRecordWatch(
          opts.kubeConfig,
          opts.syncRecordNamespace,
          opts.clock,
          opts.apiTimeoutMs,
          opts.logger.child({ watch: 'sync-record' }),
        )
      : undefined;
    const syncRecord = this.syncRecord;
    const schedulerNames = new Set(opts.schedulerNames ?? [DEFAULT_SCHEDULER_NAME]);
    this.pending = new PendingPods({
      kubeConfig: opts.kubeConfig,
      core,
      schedulerNames,
      apiTimeoutMs: opts.apiTimeoutMs,
      logger: opts.logger.child({ watch: 'pending-pods' }),
    });
    this.extender = new Extender({
      nodes: this.nodes,
      recent: this.recent,
      clock: opts.clock,
      confirmedAt: syncRecord ? (node, nowMs) => syncRecord.confirmedAt(node, nowMs) : undefined,
      rules: () => this.rules,
      bindPod,
      readPod,
      pending: this.pending,
      schedulerNames,
      events: this.metrics,
      logger: opts.logger,
      gpu: {
        ledger: this.ledger,
        policy: opts.gpuPolicy ?? 'fgd',
        mix: new RecentRequests(opts.recentRequests ?? DEFAULT_RECENT_REQUESTS),
      },
    });
    this.server = createExtenderServer({
      extender: this.extender,
      metrics: this.metrics,
      logger: opts.logger,
      ready: () => this.watch.synced && this.podWatch.synced && this.pending.synced,
      https: opts.https,
      timeouts: opts.timeouts,
    });
  }

  /**
   * Puts new TLS material in force for connections made from now on (a rotated certificate or
   * client CA); connections already open keep theirs.
   */
  setTls(material: TlsMaterial): void {
    if (!this.opts.https) throw new Error('the extender serves plain HTTP; start it with TLS to rotate TLS');
    if ((material.ca === undefined) !== (this.opts.https.ca === undefined))
      throw new Error('mutual TLS is chosen at start; a reload may change the client CA, not add or drop it');
    // HTTPS: fastify built a tls.Server; its declared type is the plain one.
    (this.server.server as unknown as TlsServer).setSecureContext(secureContextOptions(material));
  }

  /** Applies a reloaded policy file; an invalid one is reported and the last good one stays. */
  applyPolicy(result: PolicyResult): boolean {
    if (!result.ok) {
      this.opts.logger.error({ error: result.error }, 'policy rejected; keeping the last good policy');
      this.metrics.policyReloads.inc({ result: 'invalid' });
      return false;
    }
    for (const warning of result.warnings) this.opts.logger.warn({ warning }, 'policy warning');
    this.rules = rulesFromPolicy(result.policy);
    this.recent.setHorizon(bindingHorizonMs(this.rules));
    this.metrics.policyReloads.inc({ result: 'ok' });
    this.opts.logger.info({ format: result.policy.format }, 'policy reloaded');
    return true;
  }

  /** When the controller's "synced up to" record last confirmed `node` (NaN: no record for it). */
  confirmedAt(node: string): number {
    return this.syncRecord ? this.syncRecord.confirmedAt(node) : Number.NaN;
  }

  get currentRules(): LoadRules {
    return this.rules;
  }

  /** Starts the Node watch (serving before it syncs: unknown nodes are reported, not errors). */
  start(): void {
    this.watch.start();
    this.podWatch.start();
    this.pending.start();
    this.syncRecord?.start();
    // Nodes that stop being candidates are never read again; drop their old bindings now and then.
    this.pruneTimer = setInterval(() => {
      const now = this.opts.clock.now();
      this.recent.prune(now);
      this.ledger.prune(now, ASSUMED_GPU_HORIZON_MS);
    }, 60_000);
    this.pruneTimer.unref();
  }

  async waitForSync(signal?: AbortSignal): Promise<void> {
    await Promise.all([
      this.watch.waitForSync(signal),
      this.podWatch.waitForSync(signal),
      this.pending.waitForSync(signal),
    ]);
  }

  async listen(host: string, port: number): Promise<string> {
    return this.server.listen({ host, port });
  }

  async stop(): Promise<void> {
    clearInterval(this.pruneTimer);
    await this.server.close();
    await Promise.all([
      this.watch.stop(),
      this.podWatch.stop(),
      this.pending.stop(),
      this.syncRecord?.stop(),
    ]);
  }
}
