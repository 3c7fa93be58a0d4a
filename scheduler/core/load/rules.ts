// The load rules the filter and score apply, resolved from the policy file once per reload so the
// per-call path only reads numbers.
import type { FigureName } from '../../../contracts/index.ts';

export type Staleness = 'allow' | 'deny';

/**
 * What a stale priority figure means for the score. `used` (crane-scheduler's rule, the default):
 * the figure counts as fully used, so its term scores 0 and its weight stays, and a node whose
 * agent died sinks instead of attracting pods. `ignore`: the figure leaves the weighted mean; a
 * node with nothing fresh scores a neutral 5.
 */
export type StaleScore = 'used' | 'ignore';

export interface EstimateRules {
  /** Share of max(request, limit) a new pod is expected to use, per resource (Koordinator: 0.85 / 0.70). */
  cpuFactor: number;
  memoryFactor: number;
  /**
   * Over how much measured time after a binding its estimate is released (linearly): a figure
   * measured that long after the binding is taken to show the pod's real use. Tuned on the
   * real-load simulator (README): 30 s.
   */
  settleMs: number;
}

export interface LoadRules {
  predicates: { figure: FigureName; limit: number }[];
  priorities: { figure: FigureName; weight: number }[];
  /** crane-scheduler's hot-value rule: Σ floor(bindings in timeRange / count). */
  hotValue: { timeRangeMs: number; count: number }[];
  /** How long each figure stays fresh after its timestamp; a figure absent here is never fresh. */
  validityMs: Partial<Record<FigureName, number>>;
  hotValueValidityMs: number;
  /** What a missing, expired or future-dated figure means for the filter. */
  staleness: Staleness;
  /** What a stale priority figure means for the score; DEFAULT_STALE_SCORE when absent. */
  staleScore?: StaleScore;
  /**
   * How far in the future (by this reader's clock) a timestamp may lie and still be believed: the
   * clocks of the writer and the reader differ a little. Beyond it a figure is stale, so a node
   * cannot make a figure look fresh forever by dating it ahead. DEFAULT_FUTURE_SKEW_MS when absent.
   */
  futureSkewMs?: number;
  estimate: EstimateRules;
  /** Score points (of 10) taken off per unit of hot value. */
  hotValuePenalty: number;
}

export function resourceOf(figure: FigureName): 'cpu' | 'mem' {
  return figure.startsWith('cpu_') ? 'cpu' : 'mem';
}
