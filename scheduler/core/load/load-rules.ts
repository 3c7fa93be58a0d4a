// Filter and score on real load: pure functions over one node's figures, the extender's own recent
// bindings on it, and the rules. The HTTP extender, the local mode and the simulator all call these.
import type { FigureName } from '../../../contracts/index.ts';
import type { PodDemand } from './demand.ts';
import type { NodeFigures, TimedValue } from './node-figures.ts';
import type { RecordedBinding } from './recent-bindings.ts';
import { type LoadRules, resourceOf } from './rules.ts';

export const MAX_SCORE = 10;
/** Score of a node about which nothing fresh is known: neither preferred nor avoided. */
export const NEUTRAL_SCORE = MAX_SCORE / 2;

export interface NodeLoad {
  figures: NodeFigures;
  /** Allocatable CPU cores and memory bytes; without them pending pods cannot be turned into fractions. */
  allocatable: PodDemand | undefined;
  /** The extender's own recent bindings on this node. */
  bindings: readonly RecordedBinding[];
}

export type LoadVerdict = { ok: true } | { ok: false; reason: string };

export interface LoadScore {
  /** 0..MAX_SCORE, an integer as the extender API wants. */
  score: number;
  /** The same before rounding, for logs and the status page. */
  exact: number;
  /** Figures that counted (fresh); the rest dropped out of the weighted mean. */
  used: FigureName[];
  hotValue: number;
}

function fresh(value: TimedValue | undefined, validityMs: number | undefined, nowMs: number): boolean {
  return value !== undefined && validityMs !== undefined && value.timestampMs + validityMs >= nowMs;
}

/** Fraction of the node the extender's bindings add to `figure` until the figure has caught up with them. */
export function pendingFraction(load: NodeLoad, figure: FigureName, rules: LoadRules): number {
  const measuredAt = load.figures.figures[figure]?.timestampMs ?? Number.NEGATIVE_INFINITY;
  const resource = resourceOf(figure);
  const capacity = resource === 'cpu' ? load.allocatable?.cpuCores : load.allocatable?.memoryBytes;
  if (!capacity) return 0;
  const factor = resource === 'cpu' ? rules.estimate.cpuFactor : rules.estimate.memoryFactor;
  let sum = 0;
  for (const b of load.bindings) {
    if (b.boundAtMs + rules.estimate.settleMs > measuredAt) {
      sum += (resource === 'cpu' ? b.demand.cpuCores : b.demand.memoryBytes) * factor;
    }
  }
  return sum / capacity;
}

/**
 * crane-scheduler's hot value, made immediate: the controller's annotated value (bindings it saw up
 * to its timestamp) plus the rule applied to this extender's bindings made after that timestamp.
 */
export function hotValue(load: NodeLoad, rules: LoadRules, nowMs: number): number {
  const annotated = load.figures.hotValue;
  const annotatedFresh = fresh(annotated, rules.hotValueValidityMs, nowMs);
  const since = annotatedFresh ? annotated!.timestampMs : Number.NEGATIVE_INFINITY;
  let own = 0;
  for (const rule of rules.hotValue) {
    let count = 0;
    for (const b of load.bindings) if (b.boundAtMs > since && b.boundAtMs > nowMs - rule.timeRangeMs) count++;
    own += Math.floor(count / rule.count);
  }
  return (annotatedFresh ? annotated!.value : 0) + own;
}

/**
 * Rejects a node when a fresh figure, plus what the extender has bound there since it was measured,
 * is above its threshold. A missing or expired figure follows the staleness rule.
 */
export function filterByLoad(load: NodeLoad, rules: LoadRules, nowMs: number): LoadVerdict {
  for (const { figure, limit } of rules.predicates) {
    const value = load.figures.figures[figure];
    if (!fresh(value, rules.validityMs[figure], nowMs)) {
      if (rules.staleness === 'deny') {
        const why = value
          ? `expired ${Math.round((nowMs - value.timestampMs) / 1000)}s after measurement`
          : 'missing';
        return { ok: false, reason: `${figure} ${why} (staleness: deny)` };
      }
      continue;
    }
    const pending = pendingFraction(load, figure, rules);
    const total = value!.value + pending;
    if (total > limit) {
      const shown =
        pending > 0 ? `${value!.value.toFixed(2)} + ${pending.toFixed(2)} pending` : total.toFixed(2);
      return { ok: false, reason: `${figure} ${shown} > ${limit}` };
    }
  }
  return { ok: true };
}

/**
 * Weighted mean of (1 − usage) over the fresh figures, usage including pending bindings and the
 * incoming pod; a stale figure leaves both numerator and denominator (crane counts it as idle).
 * Minus the hot-value penalty; 0..MAX_SCORE.
 */
export function scoreByLoad(load: NodeLoad, incoming: PodDemand, rules: LoadRules, nowMs: number): LoadScore {
  let weighted = 0;
  let weights = 0;
  const used: FigureName[] = [];
  for (const { figure, weight } of rules.priorities) {
    const value = load.figures.figures[figure];
    if (weight <= 0 || !fresh(value, rules.validityMs[figure], nowMs)) continue;
    const resource = resourceOf(figure);
    const capacity = resource === 'cpu' ? load.allocatable?.cpuCores : load.allocatable?.memoryBytes;
    const factor = resource === 'cpu' ? rules.estimate.cpuFactor : rules.estimate.memoryFactor;
    const own = capacity
      ? ((resource === 'cpu' ? incoming.cpuCores : incoming.memoryBytes) * factor) / capacity
      : 0;
    const usage = Math.min(1, value!.value + pendingFraction(load, figure, rules) + own);
    weighted += (1 - usage) * weight;
    weights += weight;
    used.push(figure);
  }
  const hot = hotValue(load, rules, nowMs);
  const base = weights > 0 ? (weighted / weights) * MAX_SCORE : NEUTRAL_SCORE;
  const exact = Math.min(MAX_SCORE, Math.max(0, base - hot * rules.hotValuePenalty));
  return { score: Math.round(exact), exact, used, hotValue: hot };
}
