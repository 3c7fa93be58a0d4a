// The agent's Prometheus metrics, on a registry of its own (tests run several agents in one process).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import {
  AGENT_METRICS,
  GPU_METRICS,
  type GpuStatistics,
  NODE_FIGURES,
  nodeFigureMetric,
  nodeMetricsGaugeName,
  toPercent,
  SAMPLE_FAILURE_REASONS,
} from '../contracts/index.ts';
import type { SampleFailure, SampleSource } from './sampler.ts';
import type { FigureReading } from './statistics.ts';

export interface AgentMetricsSource {
  node: string;
  /** Figures as of the newest good sample, or undefined before one exists. */
  figures(): FigureReading | undefined;
  sampleAgeSeconds(): number | undefined;
  /** The GPUs as last read, or undefined on a node without any. */
  gpus(): GpuStatistics[] | undefined;
  /** Also export node-metrics' unlabelled `node_<figure>` gauges in percent (--compat node-metrics). */
  nodeMetricsGauges?: boolean;
}

const MiB = 1024 * 1024;

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly failures: Counter<'source' | 'reason'>;
  private readonly samples: Counter;
  readonly sampleDuration: Histogram;

  constructor(source: AgentMetricsSource) {
    collectDefaultMetrics({ register: this.registry });
    const node = source.node;
    // Labelled gauges emit nothing until set, so a figure without data is absent, not 0.
    const figureGauges = NODE_FIGURES.map((figure) => ({
      figure,
      gauge: new Gauge({
        name: nodeFigureMetric(figure),
        help: `Node ${figure.replace(/_/g, ' ')} (fraction 0..1)`,
        labelNames: ['node'],
        registers: [],
      }),
    }));
    // node-metrics' spelling, for crane-scheduler-plus and dashboards built on it: one series per
    // figure, no labels (a node-metrics target is one node), percent.
    const percentGauges = source.nodeMetricsGauges
      ? NODE_FIGURES.map((figure) => ({
          figure,
          gauge: new Gauge({
            name: nodeMetricsGaugeName(figure),
            help: `Node ${figure.replace(/_/g, ' ')} (percent 0..100, node-metrics compatible)`,
            registers: [],
          }),
        }))
      : [];
    const coverage = new Gauge({
      name: AGENT_METRICS.windowCoverage,
      help: 'Seconds of each window backed by samples',
      labelNames: ['node', 'figure'],
      registers: [],
    });
    // Registered first: prom-client collects metrics in registration order, so this one refreshes
    // every figure gauge from a single read of the windows before they are serialised.
    new Gauge({
      name: AGENT_METRICS.sampleAge,
      help: 'Seconds since the newest good sample',
      labelNames: ['node'],
      registers: [this.registry],
      collect() {
        this.reset();
        coverage.reset();
        const age = source.sampleAgeSeconds();
        if (age !== undefined) this.set({ node }, age);
        const reading = source.figures();
        for (const { figure, gauge } of figureGauges) {
          gauge.reset();
          const value = reading?.values[figure];
          if (value === undefined) continue;
          gauge.set({ node }, value);
          coverage.set({ node, figure }, reading?.coverageSeconds[figure] ?? 0);
        }
        for (const { figure, gauge } of percentGauges) {
          gauge.reset();
          const value = reading?.values[figure];
          if (value !== undefined) gauge.set(toPercent(value));
        }
      },
    });
    for (const { gauge } of [...figureGauges, ...percentGauges]) this.registry.registerMetric(gauge);
    this.registry.registerMetric(coverage);
    this.registerGpuGauges(source);
    this.samples = new Counter({
      name: AGENT_METRICS.samples,
      help: 'Sampling ticks',
      registers: [this.registry],
    });
    this.failures = new Counter({
      name: AGENT_METRICS.sampleFailures,
      help: `Failed or discarded samples by file and reason (${SAMPLE_FAILURE_REASONS.join(', ')})`,
      labelNames: ['source', 'reason'],
      registers: [this.registry],
    });
    this.sampleDuration = new Histogram({
      name: AGENT_METRICS.sampleDuration,
      help: 'Time to read, parse and record one sample',
      buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.01, 0.05],
      registers: [this.registry],
    });
    // Show every reason at 0 from the start, so a rate() has a series before the first failure.
    for (const source of ['stat', 'meminfo', 'gpu'] satisfies SampleSource[]) {
      for (const reason of SAMPLE_FAILURE_REASONS) this.failures.inc({ source, reason }, 0);
    }
  }

  /** One gauge per GPU figure, all refreshed from a single reading at scrape time. */
  private registerGpuGauges(source: AgentMetricsSource): void {
    const labelNames = ['node', 'gpu', 'uuid', 'model'] as const;
    const gauge = (name: string, help: string) => new Gauge({ name, help, labelNames, registers: [] });
    const utilization = gauge(GPU_METRICS.utilization, 'GPU busy fraction 0..1 at the last reading');
    const used = gauge(GPU_METRICS.memoryUsed, 'GPU memory in use');
    const total = gauge(GPU_METRICS.memoryTotal, 'GPU memory');
    const healthy = gauge(GPU_METRICS.healthy, '1 while the GPU answers, 0 after it vanished');
    const core = gauge(GPU_METRICS.allocatedCore, 'Compute loadwise allocated on the GPU, hundredths');
    const memory = gauge(GPU_METRICS.allocatedMemory, 'GPU memory loadwise allocated');
    const all = [utilization, used, total, healthy, core, memory];
    // Registered first of the six: its collect fills them all (prom-client collects in order).
    new Gauge({
      name: GPU_METRICS.count,
      help: 'GPUs the agent reports',
      labelNames: ['node'],
      registers: [this.registry],
      collect() {
        for (const g of all) g.reset();
        this.reset();
        const gpus = source.gpus();
        if (!gpus) return;
        this.set({ node: source.node }, gpus.length);
        for (const g of gpus) {
          const labels = { node: source.node, gpu: String(g.index), uuid: g.uuid, model: g.model };
          if (g.utilization !== undefined) utilization.set(labels, g.utilization);
          if (g.memoryUsedMiB !== undefined) used.set(labels, g.memoryUsedMiB * MiB);
          total.set(labels, g.memoryMiB * MiB);
          healthy.set(labels, g.healthy ? 1 : 0);
          core.set(labels, g.allocated.core);
          memory.set(labels, g.allocated.memoryMiB * MiB);
        }
      },
    });
    for (const g of all) this.registry.registerMetric(g);
  }

  countSample(): void {
    this.samples.inc();
  }

  countFailure(failure: SampleFailure): void {
    this.failures.inc({ source: failure.source, reason: failure.reason });
  }
}
