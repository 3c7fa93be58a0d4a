// The Grafana dashboard of the monitoring component: every query names metrics loadwise exports
// (the metrics contract in contracts/), with the suffixes their types have, so a renamed metric
// breaks this test instead of leaving an empty panel.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CONTROLLER_METRICS } from '../contracts/controller.ts';
import { NODE_FIGURES } from '../contracts/figures.ts';
import {
  AGENT_METRICS,
  EXTENDER_METRICS,
  GPU_METRICS,
  METRIC_PREFIX,
  nodeFigureMetric,
} from '../contracts/metrics.ts';

interface Panel {
  type: string;
  title: string;
  targets?: { expr: string; refId: string }[];
  panels?: Panel[];
}
const dashboard = JSON.parse(
  readFileSync(new URL('./components/monitoring/dashboard.json', import.meta.url), 'utf8'),
) as { uid: string; panels: Panel[] };
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]).filter((p) => p.type !== 'row');

/** Every metric the components export, as their registries name it. */
const exported = new Set<string>([
  ...NODE_FIGURES.map(nodeFigureMetric),
  ...Object.values(AGENT_METRICS),
  ...Object.values(GPU_METRICS),
  ...Object.values(CONTROLLER_METRICS),
  ...Object.values(EXTENDER_METRICS),
]);
/** The histograms among them (prom-client exports _bucket, _sum and _count for each). */
const histograms = new Set<string>([
  AGENT_METRICS.sampleDuration,
  CONTROLLER_METRICS.syncDuration,
  EXTENDER_METRICS.requestDuration,
]);

/** The metric names a PromQL expression reads (label names and functions are not `loadwise_`-prefixed). */
const metricsIn = (expr: string) =>
  [...expr.matchAll(new RegExp(`\\b${METRIC_PREFIX}[a-z0-9_]+`, 'g'))].map((m) => m[0]);

function exportedAs(name: string): boolean {
  if (exported.has(name) && !histograms.has(name)) return true;
  const base = /^(.*)_(bucket|sum|count)$/.exec(name)?.[1];
  return base !== undefined && histograms.has(base);
}

describe('Grafana dashboard (components/monitoring/dashboard.json)', () => {
  it('has panels, each with at least one query', () => {
    assert.ok(panels.length >= 10, `${panels.length} panels`);
    for (const p of panels) assert.ok((p.targets ?? []).length > 0, p.title);
  });

  it('queries only metrics loadwise exports, every query at least one', () => {
    for (const p of panels) {
      for (const t of p.targets ?? []) {
        const names = metricsIn(t.expr);
        assert.ok(names.length > 0, `${p.title} ${t.refId}: ${t.expr} names no loadwise metric`);
        for (const name of names)
          assert.ok(exportedAs(name), `${p.title} ${t.refId}: ${name} is not exported`);
      }
    }
  });

  it('would catch a metric that does not exist, or a histogram read as a gauge', () => {
    assert.equal(exportedAs(`${METRIC_PREFIX}node_cpu_usage_avg_15m`), false);
    assert.equal(exportedAs(CONTROLLER_METRICS.syncDuration), false);
    assert.equal(exportedAs(`${CONTROLLER_METRICS.syncDuration}_bucket`), true);
    assert.equal(exportedAs(`${CONTROLLER_METRICS.syncs}_bucket`), false);
  });

  it('shows the figures the extender schedules on and the GPU shares', () => {
    const all = panels.flatMap((p) => (p.targets ?? []).flatMap((t) => metricsIn(t.expr)));
    for (const name of [
      nodeFigureMetric('cpu_usage_avg_5m'),
      nodeFigureMetric('mem_usage_avg_5m'),
      GPU_METRICS.utilization,
      GPU_METRICS.allocatedCore,
      CONTROLLER_METRICS.isLeader,
      EXTENDER_METRICS.requests,
    ])
      assert.ok(all.includes(name), name);
  });
});
