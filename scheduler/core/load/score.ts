// The load score: how much room a node's fresh figures, the pending estimate and the incoming pod
// leave, minus the hot-value penalty. Pure: the extender, the local mode and the simulator call it.
import type { FigureName } from '../../../contracts/index.ts';
import type { PodDemand } from './demand.ts';
import { hotValue, pendingAt } from './estimate.ts';
import { compile, freshValue, type NodeLoad, type StaleObserver, staleReason } from './freshness.ts';
import type { LoadRules } from './rules.ts';

export const MAX_SCORE = 10;
/** Score of a node about which nothing fresh is known, under `staleScore: ignore`. */
export const NEUTRAL_SCORE = MAX_SCORE / 2;

export interface LoadScore {
  /** 0..MAX_SCORE, an integer as the extender API wants. */
  score: number;
  /** The same before rounding, for logs and the status page. */
  exact: number;
  /** Figures that counted (fresh); the rest scored 0 or left the mean, as `staleScore` says. */
  used: FigureName[];
  hotValue: number;
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
