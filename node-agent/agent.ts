// The node agent assembled: sampler, metrics and HTTP server, with nothing global, so tests and
// benchmarks run it in-process exactly as the command does.
import type { FastifyInstance } from 'fastify';
import type { Clock } from '../common/clock.ts';
import { createServer, errorBody, route } from '../common/http.ts';
import type { Logger } from '../common/log.ts';
import { AGENT_PATHS } from '../contracts/index.ts';
import { AgentMetrics } from './metrics.ts';
import { SampleLoop } from './sample-loop.ts';
import { NodeSampler, type SampleFailure } from './sampler.ts';
import { buildStatistics, type FigureReading, readFigures } from './statistics.ts';

export interface AgentOptions {
  nodeName: string;
  procPath: string;
  sampleIntervalMs: number;
  clock: Clock;
  logger: Logger;
}

// Every agent endpoint is a GET; a body is never needed.
const BODY_LIMIT_BYTES = 1024;
/** Repeated failures of one kind are logged once per this many occurrences, not every tick. */
const FAILURE_LOG_EVERY = 60;

export class NodeAgent {
  readonly sampler: NodeSampler;
  readonly metrics: AgentMetrics;
  readonly server: FastifyInstance;
  private readonly loop: SampleLoop;
  private readonly failureStreak = new Map<string, number>();
  /** Figures as of the newest sample; they change only when a sample lands, so compute them once per sample. */
  private cached: { asOf: number; reading: FigureReading } | undefined;

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
      sampleAgeSeconds: () => {
        const asOf = this.sampler.lastGoodSampleMs;
        return asOf === undefined ? undefined : Math.max(0, opts.clock.now() - asOf) / 1000;
      },
    });
    this.loop = new SampleLoop(opts.sampleIntervalMs, () => this.sample());
    this.server = this.buildServer();
  }

  /** Takes one sample now (the loop calls this every interval). */
  sample(): boolean {
    const end = this.metrics.sampleDuration.startTimer();
    this.metrics.countSample();
    const added = this.sampler.sampleOnce();
    end();
    if (added && this.failureStreak.size > 0) {
      this.opts.logger.info({ recoveredFrom: [...this.failureStreak.keys()] }, 'sampling recovered');
      this.failureStreak.clear();
    }
    return added;
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

  private buildServer(): FastifyInstance {
    const app = createServer({ logger: this.opts.logger, bodyLimit: BODY_LIMIT_BYTES });
    route(app, AGENT_PATHS.statistics, ['GET'], async (_request, reply) => {
      const figures = this.figures();
      const asOf = this.sampler.lastGoodSampleMs;
      if (figures === undefined || asOf === undefined) {
        return reply.code(503).send(errorBody('Service Unavailable', 'no good sample yet'));
      }
      const { nodeName, clock, sampleIntervalMs } = this.opts;
      return buildStatistics(nodeName, figures, asOf, clock.now(), sampleIntervalMs);
    });
    route(app, AGENT_PATHS.metrics, ['GET'], async (_request, reply) => {
      const text = await this.metrics.registry.metrics();
      return reply.type(this.metrics.registry.contentType).send(text);
    });
    route(app, AGENT_PATHS.healthz, ['GET'], async () => ({ status: 'ok' }));
    route(app, AGENT_PATHS.readyz, ['GET'], async (_request, reply) =>
      this.ready
        ? { status: 'ready' }
        : reply.code(503).send(errorBody('Service Unavailable', 'no good sample of /proc yet')),
    );
    return app;
  }
}
