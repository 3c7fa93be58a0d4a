// node-metrics (node-exporter-plus, the in-memory agent of crane-scheduler-plus): the documents it
// serves, as loadwise's agent imitates them with `--compat node-metrics` and loadwise's controller
// reads them from a node that still runs node-metrics. node-metrics' `GET /statistics` is a flat
// JSON object of percentages by figure name (`{"cpu_usage_active": 6.8, "cpu_usage_avg_5m": 6.8,
// ...}`), with no node name and no time; its `/metrics` has one gauge per figure, `node_<figure>`,
// in percent too. loadwise's figure names are the same strings, so only the unit and the shape differ.
import type { ParsedStatistics } from './agent-api.ts';
import { type FigureName, figureName, isFigureName } from './figures.ts';

/** What crane-scheduler-plus reads from node-metrics: CPU and memory, last sample to one-day maximum. */
export const NODE_METRICS_FIGURES: readonly FigureName[] = (['cpu', 'mem'] as const).flatMap((r) =>
  (['active', 'avg_5m', 'max_avg_1h', 'max_avg_1d'] as const).map((w) => figureName(r, w)),
);

/** The agent's `--compat` choices: serve loadwise's documents only, or node-metrics' too. */
export const AGENT_COMPAT_MODES = ['none', 'node-metrics'] as const;
export type AgentCompatMode = (typeof AGENT_COMPAT_MODES)[number];

/**
 * The media type of loadwise's own /statistics document. A loadwise controller asks for it; an agent
 * in `--compat node-metrics` mode answers `/statistics` with loadwise's document when it is asked
 * for, and with node-metrics' flat document otherwise (crane-scheduler-plus sends no such Accept).
 */
export const LOADWISE_STATISTICS_MEDIA_TYPE = 'application/vnd.loadwise.statistics.v1+json';

/** node-metrics' gauge name for a figure on /metrics: `node_cpu_usage_avg_5m` (percent 0..100). */
export function nodeMetricsGaugeName(figure: FigureName): string {
  return `node_${figure}`;
}

/** node-metrics' `/statistics`: percent by figure name. */
export type NodeMetricsDocument = Record<string, number>;

/** Percent with 4 decimals: a fraction's 6 decimals, no float noise (6.8, not 6.800000000000001). */
export function toPercent(fraction: number): number {
  return Math.round(fraction * 1_000_000) / 10_000;
}

/** A node-metrics document is a few dozen keys; anything with far more is not one. */
const MAX_KEYS = 256;

/** Whether a parsed JSON body has node-metrics' shape rather than loadwise's (which has `windows`). */
export function looksLikeNodeMetrics(body: unknown): body is Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  if ('windows' in body) return false;
  return NODE_METRICS_FIGURES.some((f) => f in body);
}

/**
 * Reads a node-metrics `/statistics` body into loadwise's terms: percent → fraction. It names no
 * node and no time, so `node` is empty (the caller must vouch for the address it came from) and
 * the figures are dated `receivedAtMs` (the reader's clock, sample age 0). Strict: every known
 * figure must be a number in 0..100 and at least one of crane-scheduler-plus's eight must be there;
 * other keys are ignored, as a newer node-metrics may add some.
 */
export function parseNodeMetricsStatistics(
  body: unknown,
  receivedAtMs: number,
): { ok: true; stats: ParsedStatistics } | { ok: false; error: string } {
  if (!looksLikeNodeMetrics(body))
    return { ok: false, error: 'invalid node-metrics statistics: not a flat object of figures' };
  const keys = Object.keys(body);
  if (keys.length > MAX_KEYS)
    return { ok: false, error: `invalid node-metrics statistics: ${keys.length} keys (at most ${MAX_KEYS})` };
  const windows: Partial<Record<FigureName, number>> = {};
  for (const key of keys) {
    if (!isFigureName(key)) continue;
    const percent = body[key];
    if (typeof percent !== 'number' || !(percent >= 0 && percent <= 100)) {
      return {
        ok: false,
        error: `invalid node-metrics statistics: /${key} must be a percentage 0..100, got ${JSON.stringify(percent)}`,
      };
    }
    windows[key] = Math.round(percent * 10_000) / 1_000_000;
  }
  return {
    ok: true,
    stats: {
      node: '',
      timestampMs: receivedAtMs,
      sampleAgeSeconds: 0,
      sampleIntervalSeconds: 0,
      windows,
      coverageSeconds: {},
    },
  };
}
