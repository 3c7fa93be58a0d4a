// The load rules the filter and score apply, resolved from the policy file once per reload so the
// per-call path only reads numbers.
import type { FigureName } from '../../../contracts/index.ts';

export type Staleness = 'allow' | 'deny';

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
  /** What a missing or expired figure means for the filter. */
  staleness: Staleness;
  estimate: EstimateRules;
  /** Score points (of 10) taken off per unit of hot value. */
  hotValuePenalty: number;
}

/**
 * crane-scheduler takes a full point (of 10) per unit of hot value because it has nothing else to
 * go on until the figures catch up. loadwise already adds each of its bindings' estimated usage to
 * the node, so the hot value only has to break near-ties; a full point would push a burst onto
 * nodes that are really busy (see burst.test.ts).
 */
export const DEFAULT_HOT_VALUE_PENALTY = 0.2;

export const DEFAULT_ESTIMATE: EstimateRules = { cpuFactor: 0.85, memoryFactor: 0.7, settleMs: 30_000 };

export function resourceOf(figure: FigureName): 'cpu' | 'mem' {
  return figure.startsWith('cpu_') ? 'cpu' : 'mem';
}
