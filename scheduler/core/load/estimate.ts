// The pending estimate: what the extender's own recent bindings add to a node's figures until the
// figures show them, and crane-scheduler's hot value made immediate. Pure, like the filter and score.
import { type FigureName, figureIndex } from '../../../contracts/index.ts';
import { compile, type NodeLoad } from './freshness.ts';
import { type LoadRules, resourceOf } from './rules.ts';

/**
 * What the extender's bindings still add to a figure, as a fraction of the node. Each binding's
 * estimate is released linearly over `settle` of measured time after it: a time-weighted window
 * measured a time τ after the pod started has already taken in part of the pod's real use, so only
 * the rest of the estimate is added, and from `settle` on the pod's real use, as measured, decides
 * alone. A figure counts as measured at the later of its timestamp and the controller's last
 * "synced up to" record for the node: the controller rewrites a figure only when it moved, so an
 * unmoved figure is still seen every sync, and an idle pod stops blocking its share of the node.
 */
export function pendingAt(
  load: NodeLoad,
  index: number,
  cpu: boolean,
  rules: LoadRules,
  rampMs: number,
): number {
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
