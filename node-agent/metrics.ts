// The agent's Prometheus metrics, on a registry of its own (tests run several agents in one process).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { AGENT_METRICS, NODE_FIGURES, nodeFigureMetric, SAMPLE_FAILURE_REASONS } from '../contracts/index.ts';
import type { SampleFailure, SampleSource } from './sampler.ts';
import type { FigureReading } from './statistics.ts';

export interface AgentMetricsSource {
  node: string;
  /** Figures as of the newest good sample, or undefined before one exists. */
  figures(): FigureReading | undefined;
  sampleAgeSeconds(): number | undefined;
}

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
      },
    });
    for (const { gauge } of figureGauges) this.registry.registerMetric(gauge);
    this.registry.registerMetric(coverage);
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
    for (const source of ['stat', 'meminfo'] satisfies SampleSource[]) {
      for (const reason of SAMPLE_FAILURE_REASONS) this.failures.inc({ source, reason }, 0);
    }
  }

  countSample(): void {
    this.samples.inc();
  }

  countFailure(failure: SampleFailure): void {
    this.failures.inc({ source: failure.source, reason: failure.reason });
  }
}
