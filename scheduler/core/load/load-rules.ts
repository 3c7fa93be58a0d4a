// Filter and score on real load: pure functions over one node's figures, the extender's own recent
// bindings on it, and the rules. The HTTP extender, the local mode and the simulator all call these.
// They run once per candidate node per scheduling call (thousands of times a second), so they read
// dense arrays by figure index rather than records by figure name.
import {
  type FigureName,
  figureIndex,
  NODE_FIGURES,
  type StaleFigureReason,
} from '../../../contracts/index.ts';
import type { PodDemand } from './demand.ts';
import type { NodeFigures } from './node-figures.ts';
import type { RecordedBinding } from './recent-bindings.ts';
import { DEFAULT_FUTURE_SKEW_MS, DEFAULT_STALE_SCORE } from '../../../common/policy-defaults.ts';
import { type LoadRules, resourceOf } from './rules.ts';

export const MAX_SCORE = 10;
/** Score of a node about which nothing fresh is known, under `staleScore: ignore`. */
export const NEUTRAL_SCORE = MAX_SCORE / 2;

/**
 * Told of each figure the filter or score did not believe, and why; the extender counts these in
 * its /metrics. Optional, so the functions stay pure for the simulator and tests.
 */
export type StaleObserver = (figure: FigureName, reason: StaleFigureReason) => void;

export interface NodeLoad {
  figures: NodeFigures;
  /** Allocatable CPU cores and memory bytes; without them pending pods cannot be turned into fractions. */
  allocatable: PodDemand | undefined;
  /** The extender's own recent bindings on this node. */
  bindings: readonly RecordedBinding[];
  /**
   * Up to when the controller last found this node's annotated figures current (its cluster-wide
   * "synced up to" record, contracts/sync-record.ts); NaN or absent without one. A figure counts
   * as measured at the later of this and its own timestamp.
   */
  confirmedMs?: number;
}

/** A rejection names the figure that caused it, so callers can count rejections by figure. */
export type LoadVerdict = { ok: true } | { ok: false; figure: FigureName; reason: string };

export interface LoadScore {
  /** 0..MAX_SCORE, an integer as the extender API wants. */
  score: number;
  /** The same before rounding, for logs and the status page. */
  exact: number;
  /** Figures that counted (fresh); the rest scored 0 or left the mean, as `staleScore` says. */
  used: FigureName[];
  hotValue: number;
}

interface Term {
  figure: FigureName;
  index: number;
  cpu: boolean;
  /** limit for a predicate, weight for a priority. */
  amount: number;
  /**
   * A predicate's rejection text by the figure's value (no pending bindings): a pure function of
   * the value, so it never goes stale; formatting it anew for every rejected node of every call
   * was half the cost of a /filter call. Bounded (cleared when full): values are arbitrary numbers.
   */
  overText: Map<number, string>;
}

/** Distinct values whose rejection text a predicate keeps before it starts over. */
export const OVER_TEXT_CACHE_SIZE = 4096;

interface Compiled {
  predicates: Term[];
  priorities: Term[];
  /** Validity by figure index; NaN for a figure the policy does not sync (never fresh). */
  validity: Float64Array;
  futureSkewMs: number;
  /** A stale priority figure counts as fully used (crane) rather than leaving the mean. */
  staleUsed: boolean;
  /** By figure index: over how much measured time a binding's share is released (see pendingAt). */
  rampMs: Float64Array;
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
    overText: new Map(),
  });
  const validity = new Float64Array(NODE_FIGURES.length).fill(Number.NaN);
  for (const [figure, ms] of Object.entries(rules.validityMs))
    validity[figureIndex(figure as FigureName)] = ms;
  c = {
    predicates: rules.predicates.map((p) => term(p.figure, p.limit)),
    priorities: rules.priorities.filter((p) => p.weight > 0).map((p) => term(p.figure, p.weight)),
    validity,
    futureSkewMs: rules.futureSkewMs ?? DEFAULT_FUTURE_SKEW_MS,
    staleUsed: (rules.staleScore ?? DEFAULT_STALE_SCORE) === 'used',
    rampMs: new Float64Array(NODE_FIGURES.length).fill(rules.estimate.settleMs),
  };
  compiledRules.set(rules, c);
  lastRules = rules;
  lastCompiled = c;
  return c;
}

/**
 * NaN when the figure is missing, expired or dated beyond the skew into the future. A future
 * timestamp is not "very fresh": the controller dates figures by its own clock, so one from the
 * future was written by something that should not be believed (a skewed clock, a forgery), and
 * trusting it would let it stand for as long as it claims.
 */
function freshValue(figures: NodeFigures, c: Compiled, index: number, nowMs: number): number {
  const at = figures.timestamps[index]!;
  return at + c.validity[index]! >= nowMs && at <= nowMs + c.futureSkewMs
    ? figures.values[index]!
    : Number.NaN;
}

/** Why freshValue gave NaN; off the per-call fast path, only for figures that are stale. */
function staleReason(figures: NodeFigures, c: Compiled, index: number, nowMs: number): StaleFigureReason {
  const at = figures.timestamps[index]!;
  if (Number.isNaN(c.validity[index]!)) return 'unsynced';
  if (Number.isNaN(at)) return 'missing';
  return at > nowMs + c.futureSkewMs ? 'future' : 'expired';
}

function describeStale(reason: StaleFigureReason, at: number, nowMs: number, c: Compiled): string {
  switch (reason) {
    case 'missing':
      return 'missing';
    case 'unsynced':
      return "not in the policy's syncPolicy";
    case 'future':
      return `dated ${Math.round((at - nowMs) / 1000)}s in the future (more than the ${c.futureSkewMs / 1000}s futureSkew)`;
    case 'expired':
      return `expired ${Math.round((nowMs - at) / 1000)}s after measurement`;
  }
}

/**
 * What the extender's bindings still add to a figure, as a fraction of the node. Each binding's
 * estimate is released linearly over `settle` of measured time after it: a time-weighted window
 * measured a time τ after the pod started has already taken in part of the pod's real use, so only
 * the rest of the estimate is added, and from `settle` on the pod's real use, as measured, decides
 * alone. A figure counts as measured at the later of its timestamp and the controller's last
 * "synced up to" record for the node: the controller rewrites a figure only when it moved, so an
 * unmoved figure is still seen every sync, and an idle pod stops blocking its share of the node.
 */
function pendingAt(load: NodeLoad, index: number, cpu: boolean, rules: LoadRules, rampMs: number): number {
  if (load.bindings.length === 0) return 0;
  const capacity = cpu ? load.allocatable?.cpuCores : load.allocatable?.memoryBytes;
  if (!capacity) return 0;
  const stamped = load.figures.timestamps[index]!;
  const confirmed = load.confirmedMs ?? Number.NaN;
  // A missing figure (NaN timestamp) has caught up with nothing: every binding counts in full.
  const seenAt = confirmed > stamped ? confirmed : stamped;
  const factor = cpu ? rules.estimate.cpuFactor : rules.estimate.memoryFactor;
  let sum = 0;
  for (const b of load.bindings) {
    if (b.gone) continue;
    const covered = rampMs > 0 ? (seenAt - b.boundAtMs) / rampMs : seenAt > b.boundAtMs ? 1 : 0;
    // NaN (no measurement) and covered <= 0 both count the whole share.
    if (covered >= 1) continue;
    const share = covered > 0 ? 1 - covered : 1;
    sum += share * (cpu ? b.demand.cpuCores : b.demand.memoryBytes);
  }
  return (sum * factor) / capacity;
}

/** Fraction of the node the extender's bindings add to `figure` until the figure has caught up with them. */
export function pendingFraction(load: NodeLoad, figure: FigureName, rules: LoadRules): number {
  const index = figureIndex(figure);
  return pendingAt(load, index, resourceOf(figure) === 'cpu', rules, compile(rules).rampMs[index]!);
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
  // A future-dated value would otherwise also hide every own binding (none is newer than it).
  const annotatedFresh =
    annotated !== undefined &&
    annotated.timestampMs + validityMs >= nowMs &&
    annotated.timestampMs <= nowMs + compile(rules).futureSkewMs;
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
 * is above its threshold. A missing, expired or future-dated figure follows the staleness rule
 * (crane's: it passes).
 */
export function filterByLoad(
  load: NodeLoad,
  rules: LoadRules,
  nowMs: number,
  onStale?: StaleObserver,
): LoadVerdict {
  const c = compile(rules);
  for (const term of c.predicates) {
    const { figure, index, cpu, amount: limit } = term;
    const value = freshValue(load.figures, c, index, nowMs);
    if (Number.isNaN(value)) {
      const stale = staleReason(load.figures, c, index, nowMs);
      onStale?.(figure, stale);
      if (rules.staleness === 'deny') {
        const why = describeStale(stale, load.figures.timestamps[index]!, nowMs, c);
        return { ok: false, figure, reason: `${figure} ${why} (staleness: deny)` };
      }
      continue;
    }
    const pending = pendingAt(load, index, cpu, rules, c.rampMs[index]!);
    if (value + pending > limit) {
      const reason =
        pending > 0
          ? `${figure} ${value.toFixed(2)} + ${pending.toFixed(2)} pending > ${limit}`
          : overText(term, value);
      return { ok: false, figure, reason };
    }
  }
  return { ok: true };
}

/** `<figure> <value> > <limit>`, formatted once per distinct value. */
function overText(term: Term, value: number): string {
  let text = term.overText.get(value);
  if (text === undefined) {
    if (term.overText.size >= OVER_TEXT_CACHE_SIZE) term.overText.clear();
    text = `${term.figure} ${value.toFixed(2)} > ${term.amount}`;
    term.overText.set(value, text);
  }
  return text;
}

/**
 * Weighted mean of (1 − usage) over the priority figures, usage including pending bindings and the
 * incoming pod. A stale figure follows `staleScore`: under `used` (crane-scheduler's rule, the
 * default) it counts as fully used, its term 0 and its weight kept, so a node whose agent died or
 * whose figures are dated in the future sinks; under `ignore` it leaves numerator and denominator.
 * Minus the hot-value penalty; 0..MAX_SCORE.
 */
export function scoreByLoad(
  load: NodeLoad,
  incoming: PodDemand,
  rules: LoadRules,
  nowMs: number,
  onStale?: StaleObserver,
): LoadScore {
  const c = compile(rules);
  const cpuCapacity = load.allocatable?.cpuCores;
  const memCapacity = load.allocatable?.memoryBytes;
  const ownCpu = cpuCapacity ? (incoming.cpuCores * rules.estimate.cpuFactor) / cpuCapacity : 0;
  const ownMem = memCapacity ? (incoming.memoryBytes * rules.estimate.memoryFactor) / memCapacity : 0;
  let weighted = 0;
  let weights = 0;
  const used: FigureName[] = [];
  for (const { figure, index, cpu, amount: weight } of c.priorities) {
    const value = freshValue(load.figures, c, index, nowMs);
    if (Number.isNaN(value)) {
      onStale?.(figure, staleReason(load.figures, c, index, nowMs));
      if (c.staleUsed) weights += weight;
      continue;
    }
    const usage = Math.min(
      1,
      value + pendingAt(load, index, cpu, rules, c.rampMs[index]!) + (cpu ? ownCpu : ownMem),
    );
    weighted += (1 - usage) * weight;
    weights += weight;
    used.push(figure);
  }
  const hot = hotValue(load, rules, nowMs);
  const base = weights > 0 ? (weighted / weights) * MAX_SCORE : NEUTRAL_SCORE;
  const exact = Math.min(MAX_SCORE, Math.max(0, base - hot * rules.hotValuePenalty));
  return { score: Math.round(exact), exact, used, hotValue: hot };
}
