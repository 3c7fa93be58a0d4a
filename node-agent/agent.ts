// The node agent assembled: sampler, metrics and HTTP server, with nothing global, so tests and
// benchmarks run it in-process exactly as the command does.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { Clock } from '../common/clock.ts';
import { createServer, errorBody, opsRoutes, route } from '../common/http.ts';
import type { Logger } from '../common/log.ts';
import {
  AGENT_PATHS,
  type AgentCompatMode,
  type GpuStatistics,
  LOADWISE_STATISTICS_MEDIA_TYPE,
  type NodeMetricsDocument,
  type Statistics,
  toPercent,
} from '../contracts/index.ts';
import { type GpuProvider, type GpuSnapshot, nodeGpuUsage } from './gpu/provider.ts';
import type { Allocations } from './gpu/simulated-provider.ts';
import { type HeapTrim, processHeapTrim } from './heap-trim.ts';
import { AgentMetrics } from './metrics.ts';
import { SampleLoop } from './sample-loop.ts';
import { NodeSampler, type SampleFailure } from './sampler.ts';
import {
  buildStatistics,
  buildStatisticsJson,
  type FigureReading,
  readFigures,
  type StatisticsJson,
  statisticsJson,
} from './statistics.ts';

export interface AgentOptions {
  nodeName: string;
  procPath: string;
  sampleIntervalMs: number;
  clock: Clock;
  logger: Logger;
  /** Where GPUs come from; none on a CPU node. */
  gpu?: GpuProvider;
  /** What loadwise has allocated on each GPU (the device plugin's ledger). */
  gpuAllocations?: Allocations;
  /** Told of every GPU reading (the device plugin's inventory follows it). */
  onGpuReading?: (snapshot: GpuSnapshot) => void;
  /** `node-metrics`: also serve node-metrics' documents (flat percent /statistics, node_<figure> gauges). */
  compat?: AgentCompatMode;
  /** Collects the heap's garbage between samples (default: the process's, where `gc` is exposed). */
  heapTrim?: HeapTrim;
}

// Every agent endpoint is a GET; a body is never needed.
const BODY_LIMIT_BYTES = 1024;
/** Repeated failures of one kind are logged once per this many occurrences, not every tick. */
const FAILURE_LOG_EVERY = 60;
/** What fastify sends for a serialised object; a prepared JSON string must say the same. */
const JSON_TYPE = 'application/json; charset=utf-8';

export class NodeAgent {
  readonly sampler: NodeSampler;
  readonly metrics: AgentMetrics;
  readonly server: FastifyInstance;
  private readonly loop: SampleLoop;
  private readonly heapTrim: HeapTrim;
  private readonly failureStreak = new Map<string, number>();
  /** Figures as of the newest sample; they change only when a sample lands, so compute them once per sample. */
  private cached: { asOf: number; reading: FigureReading } | undefined;
  /** The /statistics text as of the newest sample, but for its age (see statisticsJson). */
  private cachedJson: StatisticsJson | undefined;
  private gpuSnapshot: GpuSnapshot | undefined;
  private gpuRead: Promise<void> | undefined;

  constructor(private readonly opts: AgentOptions) {
    this.sampler = new NodeSampler({
      procPath: opts.procPath,
      sampleIntervalMs: opts.sampleIntervalMs,
      clock: opts.clock,
      onFailure: (failure) => this.onFailure(failure),
    });
    this.metrics = new AgentMetrics({
      node: opts.nodeName,
      figures: () => this.figures(),
      gpus: () => this.gpus(),
      sampleAgeSeconds: () => {
        const asOf = this.sampler.lastGoodSampleMs;
        return asOf === undefined ? undefined : Math.max(0, opts.clock.now() - asOf) / 1000;
      },
      nodeMetricsGauges: opts.compat === 'node-metrics',
    });
    this.heapTrim = opts.heapTrim ?? processHeapTrim();
    this.loop = new SampleLoop(opts.sampleIntervalMs, () => this.sample());
    this.server = this.buildServer();
  }

  /** Takes one sample now (the loop calls this every interval); the GPU reading follows asynchronously. */
  sample(): boolean {
    const started = performance.now();
    this.metrics.countSample();
    const added = this.sampler.sampleOnce();
    this.metrics.sampleDuration.observe((performance.now() - started) / 1000);
    // After the sample is recorded and outside any request: the tick is the agent's idle point.
    this.heapTrim.maybeCollect();
    if (this.opts.gpu) void this.sampleGpu();
    if (added && this.failureStreak.size > 0) {
      this.opts.logger.info({ recoveredFrom: [...this.failureStreak.keys()] }, 'sampling recovered');
      this.failureStreak.clear();
    }
    return added;
  }

  /**
   * Reads the GPUs once; resolves when the reading is recorded. A reading still in flight (a slow
   * nvidia-smi) is joined rather than doubled.
   */
  sampleGpu(): Promise<void> {
    const provider = this.opts.gpu;
    if (!provider) return Promise.resolve();
    this.gpuRead ??= provider
      .read()
      .then(
        (snapshot) => {
          this.gpuSnapshot = snapshot;
          this.opts.onGpuReading?.(snapshot);
          for (const problem of snapshot.problems)
            this.onFailure({ source: 'gpu', reason: 'malformed', detail: problem });
          const usage = nodeGpuUsage(snapshot);
          if (usage !== undefined) this.sampler.addGpuUsage(this.opts.clock.now(), usage);
        },
        (err: unknown) =>
          this.onFailure({
            source: 'gpu',
            reason: 'unreadable',
            detail: `${provider.name}: ${(err as Error).message.split('\n')[0]}`,
          }),
      )
      .finally(() => {
        this.gpuRead = undefined;
      });
    return this.gpuRead;
  }

  /** The GPUs as last read, with what loadwise allocated on each; undefined without a GPU provider or reading. */
  gpus(): GpuStatistics[] | undefined {
    const snapshot = this.gpuSnapshot;
    if (!snapshot) return undefined;
    const allocated = this.opts.gpuAllocations?.() ?? new Map();
    return snapshot.devices.map((d) => {
      const usage = snapshot.usage.get(d.index);
      const a = allocated.get(d.index);
      return {
        ...d,
        ...(usage?.utilization !== undefined && d.healthy ? { utilization: usage.utilization } : {}),
        ...(usage?.memoryUsedMiB !== undefined && d.healthy ? { memoryUsedMiB: usage.memoryUsedMiB } : {}),
        allocated: { core: a?.core ?? 0, memoryMiB: a?.memoryMiB ?? 0 },
      };
    });
  }

  /** Every figure as of the newest good sample, or undefined before one. */
  figures(): FigureReading | undefined {
    const asOf = this.sampler.lastGoodSampleMs;
    if (asOf === undefined) return undefined;
    if (this.cached?.asOf !== asOf) this.cached = { asOf, reading: readFigures(this.sampler.series, asOf) };
    return this.cached.reading;
  }

  get ready(): boolean {
    return this.sampler.lastGoodSampleMs !== undefined;
  }

  /** Starts the sampling loop; the first sample is taken at once. */
  startSampling(): void {
    this.loop.start();
  }

  /** Listens for HTTP; resolves with the address. */
  async listen(host: string, port: number): Promise<string> {
    return this.server.listen({ host, port });
  }

  async stop(): Promise<void> {
    this.loop.stop();
    await this.server.close();
  }

  private onFailure(failure: SampleFailure): void {
    this.metrics.countFailure(failure);
    const key = `${failure.source}:${failure.reason}`;
    const streak = (this.failureStreak.get(key) ?? 0) + 1;
    this.failureStreak.set(key, streak);
    // A counter reset is expected once after a reboot; anything else that repeats is a problem
    // worth one line a while, not one line every ten seconds.
    if (streak % FAILURE_LOG_EVERY === 1) {
      const level = failure.reason === 'counter_reset' || failure.reason === 'no_progress' ? 'info' : 'warn';
      this.opts.logger[level]({ ...failure, streak }, 'sample failed; serving the last good figures');
    }
  }

  /** loadwise's /statistics document, or undefined before the first good sample. */
  statistics(): Statistics | undefined {
    const figures = this.figures();
    const asOf = this.sampler.lastGoodSampleMs;
    if (figures === undefined || asOf === undefined) return undefined;
    const { nodeName, clock, sampleIntervalMs } = this.opts;
    const stats = buildStatistics(nodeName, figures, asOf, clock.now(), sampleIntervalMs);
    const gpus = this.gpus();
    return gpus ? { ...stats, gpus } : stats;
  }

  /**
   * statistics() as JSON text. A scrape only joins strings prepared once per sample: serialising
   * the windows on every request was most of what /statistics did beyond /healthz.
   */
  statisticsText(): string | undefined {
    const figures = this.figures();
    const asOf = this.sampler.lastGoodSampleMs;
    if (figures === undefined || asOf === undefined) return undefined;
    const { nodeName, clock, sampleIntervalMs } = this.opts;
    if (this.cachedJson?.asOfMs !== asOf)
      this.cachedJson = buildStatisticsJson(nodeName, figures, asOf, sampleIntervalMs);
    const gpus = this.gpus();
    return statisticsJson(this.cachedJson, clock.now(), gpus && JSON.stringify(gpus));
  }

  private buildServer(): FastifyInstance {
    const app = createServer({ logger: this.opts.logger, bodyLimit: BODY_LIMIT_BYTES, schemas: false });
    const loadwiseStatistics = (reply: FastifyReply) => {
      const text = this.statisticsText();
      return text === undefined
        ? reply.code(503).send(errorBody('Service Unavailable', 'no good sample yet'))
        : reply.type(JSON_TYPE).send(text);
    };
    route(app, AGENT_PATHS.statisticsV1, ['GET'], async (_request, reply) => loadwiseStatistics(reply));
    route(app, AGENT_PATHS.statistics, ['GET'], async (request, reply) => {
      if (this.opts.compat !== 'node-metrics') return loadwiseStatistics(reply);
      const stats = this.statistics();
      if (!stats) return reply.code(503).send(errorBody('Service Unavailable', 'no good sample yet'));
      // One agent serves both controllers: loadwise's asks for its own document by media type.
      void reply.header('vary', 'Accept');
      if (request.headers.accept?.includes(LOADWISE_STATISTICS_MEDIA_TYPE)) {
        return reply.type(LOADWISE_STATISTICS_MEDIA_TYPE).send(JSON.stringify(stats));
      }
      return nodeMetricsDocument(stats);
    });
    opsRoutes(app, {
      registry: this.metrics.registry,
      notReady: () => (this.ready ? undefined : 'no good sample of /proc yet'),
    });
    return app;
  }
}

/** node-metrics' flat /statistics: every figure the agent has, in percent. */
export function nodeMetricsDocument(stats: Statistics): NodeMetricsDocument {
  const doc: NodeMetricsDocument = {};
  for (const [figure, fraction] of Object.entries(stats.windows)) doc[figure] = toPercent(fraction);
  return doc;
}
