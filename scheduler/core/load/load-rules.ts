// Filter and score on real load: pure functions over one node's figures, the extender's own recent
// bindings on it, and the rules. The HTTP extender, the local mode and the simulator all call these.
// They run once per candidate node per scheduling call (thousands of times a second), so they read
// dense arrays by figure index rather than records by figure name.
import { type FigureName, figureIndex, NODE_FIGURES } from '../../../contracts/index.ts';
import type { PodDemand } from './demand.ts';
import type { NodeFigures } from './node-figures.ts';
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

/** A rejection names the figure that caused it, so callers can count rejections by figure. */
export type LoadVerdict = { ok: true } | { ok: false; figure: FigureName; reason: string };

export interface LoadScore {
  /** 0..MAX_SCORE, an integer as the extender API wants. */
  score: number;
  /** The same before rounding, for logs and the status page. */
  exact: number;
  /** Figures that counted (fresh); the rest dropped out of the weighted mean. */
  used: FigureName[];
  hotValue: number;
}

interface Term {
  figure: FigureName;
  index: number;
  cpu: boolean;
  /** limit for a predicate, weight for a priority. */
  amount: number;
}

interface Compiled {
  predicates: Term[];
  priorities: Term[];
  /** Validity by figure index; NaN for a figure the policy does not sync (never fresh). */
  validity: Float64Array;
}

const compiledRules = new WeakMap<LoadRules, Compiled>();
// The same rules object serves thousands of calls in a row; skip even the WeakMap for it.
let lastRules: LoadRules | undefined;
let lastCompiled: Compiled | undefined;

function compile(rules: LoadRules): Compiled {
  if (rules === lastRules) return lastCompiled!;
  let c = compiledRules.get(rules);
  if (c) {
    lastRules = rules;
    lastCompiled = c;
    return c;
  }
  const term = (figure: FigureName, amount: number): Term => ({
    figure,
    index: figureIndex(figure),
    cpu: resourceOf(figure) === 'cpu',
    amount,
  });
  const validity = new Float64Array(NODE_FIGURES.length).fill(Number.NaN);
  for (const [figure, ms] of Object.entries(rules.validityMs))
    validity[figureIndex(figure as FigureName)] = ms;
  c = {
    predicates: rules.predicates.map((p) => term(p.figure, p.limit)),
    priorities: rules.priorities.filter((p) => p.weight > 0).map((p) => term(p.figure, p.weight)),
    validity,
  };
  compiledRules.set(rules, c);
  lastRules = rules;
  lastCompiled = c;
  return c;
}

/** NaN when the figure is missing or expired. */
function freshValue(figures: NodeFigures, validity: Float64Array, index: number, nowMs: number): number {
  const at = figures.timestamps[index]!;
  return at + validity[index]! >= nowMs ? figures.values[index]! : Number.NaN;
}

function pendingAt(load: NodeLoad, index: number, cpu: boolean, rules: LoadRules): number {
  if (load.bindings.length === 0) return 0;
  const capacity = cpu ? load.allocatable?.cpuCores : load.allocatable?.memoryBytes;
  if (!capacity) return 0;
  const measuredAt = load.figures.timestamps[index]!;
  const factor = cpu ? rules.estimate.cpuFactor : rules.estimate.memoryFactor;
  const settle = rules.estimate.settleMs;
  let sum = 0;
  for (const b of load.bindings) {
    // A missing figure (NaN timestamp) has caught up with nothing: every binding counts.
    if (!b.gone && !(b.boundAtMs + settle <= measuredAt))
      sum += cpu ? b.demand.cpuCores : b.demand.memoryBytes;
  }
  return (sum * factor) / capacity;
}

/** Fraction of the node the extender's bindings add to `figure` until the figure has caught up with them. */
export function pendingFraction(load: NodeLoad, figure: FigureName, rules: LoadRules): number {
  return pendingAt(load, figureIndex(figure), resourceOf(figure) === 'cpu', rules);
}

/**
 * crane-scheduler's hot value, made immediate: the controller's annotated value (bindings it saw up
 * to its timestamp) plus the rule applied to this extender's bindings made after that timestamp.
 */
export function hotValue(load: NodeLoad, rules: LoadRules, nowMs: number): number {
  const annotated = load.figures.hotValue;
  const validityMs = Math.min(
    rules.hotValueValidityMs,
    load.figures.hotValueMaxValidityMs ?? Number.POSITIVE_INFINITY,
  );
  const annotatedFresh = annotated !== undefined && annotated.timestampMs + validityMs >= nowMs;
  if (load.bindings.length === 0) return annotatedFresh ? annotated.value : 0;
  const since = annotatedFresh ? annotated.timestampMs : Number.NEGATIVE_INFINITY;
  let own = 0;
  for (const rule of rules.hotValue) {
    let count = 0;
    for (const b of load.bindings) if (b.boundAtMs > since && b.boundAtMs > nowMs - rule.timeRangeMs) count++;
    own += Math.floor(count / rule.count);
  }
  return (annotatedFresh ? annotated.value : 0) + own;
}

/**
 * Rejects a node when a fresh figure, plus what the extender has bound there since it was measured,
 * is above its threshold. A missing or expired figure follows the staleness rule.
 */
export function filterByLoad(load: NodeLoad, rules: LoadRules, nowMs: number): LoadVerdict {
  const c = compile(rules);
  for (const { figure, index, cpu, amount: limit } of c.predicates) {
    const value = freshValue(load.figures, c.validity, index, nowMs);
    if (Number.isNaN(value)) {
      if (rules.staleness === 'deny') {
        const at = load.figures.timestamps[index]!;
        const why = Number.isNaN(at)
          ? 'missing'
          : `expired ${Math.round((nowMs - at) / 1000)}s after measurement`;
        return { ok: false, figure, reason: `${figure} ${why} (staleness: deny)` };
      }
      continue;
    }
    const pending = pendingAt(load, index, cpu, rules);
    if (value + pending > limit) {
      const shown =
        pending > 0 ? `${value.toFixed(2)} + ${pending.toFixed(2)} pending` : (value + pending).toFixed(2);
      return { ok: false, figure, reason: `${figure} ${shown} > ${limit}` };
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
  const c = compile(rules);
  const cpuCapacity = load.allocatable?.cpuCores;
  const memCapacity = load.allocatable?.memoryBytes;
  const ownCpu = cpuCapacity ? (incoming.cpuCores * rules.estimate.cpuFactor) / cpuCapacity : 0;
  const ownMem = memCapacity ? (incoming.memoryBytes * rules.estimate.memoryFactor) / memCapacity : 0;
  let weighted = 0;
  let weights = 0;
  const used: FigureName[] = [];
  for (const { figure, index, cpu, amount: weight } of c.priorities) {
    const value = freshValue(load.figures, c.validity, index, nowMs);
    if (Number.isNaN(value)) continue;
    const usage = Math.min(1, value + pendingAt(load, index, cpu, rules) + (cpu ? ownCpu : ownMem));
    weighted += (1 - usage) * weight;
    weights += weight;
    used.push(figure);
  }
  const hot = hotValue(load, rules, nowMs);
  const base = weights > 0 ? (weighted / weights) * MAX_SCORE : NEUTRAL_SCORE;
  const exact = Math.min(MAX_SCORE, Math.max(0, base - hot * rules.hotValuePenalty));
  return { score: Math.round(exact), exact, used, hotValue: hot };
}
