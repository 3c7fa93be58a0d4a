// The extender's Prometheus metrics, on a registry of its own.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { type BindRefusalReason, EXTENDER_METRICS, type StaleFigureReason } from '../contracts/index.ts';
import type { ExtenderEvents } from './extender.ts';

export class ExtenderMetrics implements ExtenderEvents {
  readonly registry = new Registry();
  readonly requests: Counter<'verb' | 'code'>;
  readonly duration: Histogram<'verb'>;
  readonly rejections: Counter<'reason'>;
  readonly staleFigures: Counter<'verb' | 'reason'>;
  readonly policyReloads: Counter<'result'>;
  readonly bindings: Counter<'result'>;
  readonly bindRefusals: Counter<'reason'>;
  readonly tlsReloads: Counter<'result'>;
  readonly cachedNodes: Gauge;

  constructor() {
    collectDefaultMetrics({ register: this.registry });
    const registers = [this.registry];
    this.requests = new Counter({
      name: EXTENDER_METRICS.requests,
      help: 'Extender verb calls by verb and HTTP status',
      labelNames: ['verb', 'code'],
      registers,
    });
    this.duration = new Histogram({
      name: EXTENDER_METRICS.requestDuration,
      help: 'Extender verb latency',
      labelNames: ['verb'],
      buckets: [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5],
      registers,
    });
    this.rejections = new Counter({
      name: EXTENDER_METRICS.filterRejections,
      help: 'Nodes filtered out, by the figure that was over its threshold (or unknown_node)',
      labelNames: ['reason'],
      registers,
    });
    this.staleFigures = new Counter({
      name: EXTENDER_METRICS.staleFigures,
      help: 'Figures read and not believed (missing, expired, future-dated beyond futureSkew, unsynced), by verb and reason; once per figure per node per call',
      labelNames: ['verb', 'reason'],
      registers,
    });
    this.policyReloads = new Counter({
      name: EXTENDER_METRICS.policyReloads,
      help: 'Policy file reloads by result; on invalid, the last good policy stays in force',
      labelNames: ['result'],
      registers,
    });
    this.bindings = new Counter({
      name: EXTENDER_METRICS.bindings,
      help: 'Bindings created through the API, by result',
      labelNames: ['result'],
      registers,
    });
    this.bindRefusals = new Counter({
      name: EXTENDER_METRICS.bindRefusals,
      help:
        'Binds refused on the pod as the API server has it: empty_uid, not_found, uid_mismatch, ' +
        'already_bound, scheduler_name',
      labelNames: ['reason'],
      registers,
    });
    this.tlsReloads = new Counter({
      name: EXTENDER_METRICS.tlsReloads,
      help: 'TLS certificate, key and client CA reloads by result; on invalid the last good ones stay',
      labelNames: ['result'],
      registers,
    });
    this.cachedNodes = new Gauge({
      name: EXTENDER_METRICS.cachedNodes,
      help: 'Nodes in the extender cache',
      registers,
    });
  }

  rejected(reason: string, count: number): void {
    this.rejections.inc({ reason }, count);
  }

  stale(verb: 'filter' | 'prioritize', reason: StaleFigureReason, count: number): void {
    this.staleFigures.inc({ verb, reason }, count);
  }

  bound(result: 'ok' | 'error'): void {
    this.bindings.inc({ result });
  }

  bindRefused(reason: BindRefusalReason): void {
    this.bindRefusals.inc({ reason });
  }
}
