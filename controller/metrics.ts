// The controller's Prometheus metrics, on a registry of its own (two controllers in one test
// process must not share counters).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { AGENT_FAILURE_REASONS, CONTROLLER_METRICS, PATCH_FAILURE_REASONS } from '../contracts/controller.ts';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly syncs = new Counter({
    name: CONTROLLER_METRICS.syncs,
    help: 'Sync cycles run by the leader.',
    registers: [this.registry],
  });
  readonly syncDuration = new Histogram({
    name: CONTROLLER_METRICS.syncDuration,
    help: 'Wall-clock seconds of one sync cycle.',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
    registers: [this.registry],
  });
  readonly syncOverruns = new Counter({
    name: CONTROLLER_METRICS.syncOverruns,
    help: 'Sync cycles that ran past the sync period; the next cycle started late instead of overlapping.',
    registers: [this.registry],
  });
  readonly agentPolls = new Counter({
    name: CONTROLLER_METRICS.agentPolls,
    help: 'Agent /statistics polls, by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });
  readonly agentFailures = new Counter({
    name: CONTROLLER_METRICS.agentFailures,
    help: 'Failed agent polls, by reason; the node keeps its annotations until they expire.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly agentClockSkewed = new Counter({
    name: CONTROLLER_METRICS.agentClockSkewed,
    help: "Good agent polls whose clock was off the controller's by more than futureSkew; figures are dated by the controller's clock anyway.",
    registers: [this.registry],
  });
  readonly nodePatches = new Counter({
    name: CONTROLLER_METRICS.nodePatches,
    help: 'Node annotation PATCHes that succeeded.',
    registers: [this.registry],
  });
  readonly nodePatchFailures = new Counter({
    name: CONTROLLER_METRICS.nodePatchFailures,
    help: 'Node writes given up, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly apiRetries = new Counter({
    name: CONTROLLER_METRICS.apiRetries,
    help: 'API requests retried, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  readonly watchRestarts = new Counter({
    name: CONTROLLER_METRICS.watchRestarts,
    help: 'Watches restarted, by resource and reason.',
    labelNames: ['resource', 'reason'] as const,
    registers: [this.registry],
  });
  readonly isLeader = new Gauge({
    name: CONTROLLER_METRICS.isLeader,
    help: '1 while this replica holds the lease.',
    registers: [this.registry],
  });
  readonly nodes = new Gauge({
    name: CONTROLLER_METRICS.nodes,
    help: 'Nodes in the cache.',
    registers: [this.registry],
  });
  readonly policyReloads = new Counter({
    name: CONTROLLER_METRICS.policyReloads,
    help: 'Policy file loads, by result.',
    labelNames: ['result'] as const,
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    // Every reason appears from the start, at 0, so dashboards and alerts need no "absent" case.
    for (const reason of AGENT_FAILURE_REASONS) this.agentFailures.inc({ reason }, 0);
    for (const reason of PATCH_FAILURE_REASONS) this.nodePatchFailures.inc({ reason }, 0);
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Current value of a labelled counter, for tests and logs. */
  async value(name: string, labels: Record<string, string> = {}): Promise<number> {
    const metric = await this.registry.getSingleMetric(name)?.get();
    const match = metric?.values.find((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
    return match?.value ?? 0;
  }
}
