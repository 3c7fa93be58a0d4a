// The load rules compiled for the per-call path, and whether a node's figure is to be believed now.
// Filter, score and estimate run once per candidate node per scheduling call (thousands of times a
// second), so they read dense arrays by figure index rather than records by figure name.
import {
  type FigureName,
  figureIndex,
  NODE_FIGURES,
  type StaleFigureReason,
} from '../../../contracts/index.ts';
import { DEFAULT_FUTURE_SKEW_MS, DEFAULT_STALE_SCORE } from '../../../common/policy-defaults.ts';
import type { PodDemand } from './demand.ts';
import type { NodeFigures } from './node-figures.ts';
import type { RecordedBinding } from './recent-bindings.ts';
import { type LoadRules, resourceOf } from './rules.ts';

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

export interface Term {
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

export interface Compiled {
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

export function compile(rules: LoadRules): Compiled {
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
export function freshValue(figures: NodeFigures, c: Compiled, index: number, nowMs: number): number {
  const at = figures.timestamps[index]!;
  return at + c.validity[index]! >= nowMs && at <= nowMs + c.futureSkewMs
    ? figures.values[index]!
    : Number.NaN;
}

/** Why freshValue gave NaN; off the per-call fast path, only for figures that are stale. */
export function staleReason(
  figures: NodeFigures,
  c: Compiled,
  index: number,
  nowMs: number,
): StaleFigureReason {
  const at = figures.timestamps[index]!;
  if (Number.isNaN(c.validity[index]!)) return 'unsynced';
  if (Number.isNaN(at)) return 'missing';
  return at > nowMs + c.futureSkewMs ? 'future' : 'expired';
}

export function describeStale(reason: StaleFigureReason, at: number, nowMs: number, c: Compiled): string {
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
