// Turns the policy file into the numbers the load filter and score read on every call.
import { isFigureName } from '../contracts/index.ts';
import { figureValidityMs, hotValueValidityMs, type SchedulerPolicy } from '../common/policy.ts';
import {
  DEFAULT_ESTIMATE,
  DEFAULT_FUTURE_SKEW_MS,
  DEFAULT_HOT_VALUE_PENALTY,
  DEFAULT_STALE_SCORE,
  DEFAULT_STALENESS,
} from '../common/policy-defaults.ts';
import type { LoadRules } from './core/load/rules.ts';

/** The load rules a policy means; settings a crane file cannot express take loadwise's defaults. */
export function rulesFromPolicy(policy: SchedulerPolicy): LoadRules {
  const validityMs: LoadRules['validityMs'] = {};
  for (const { name } of policy.syncPolicy) {
    const ms = figureValidityMs(policy, name);
    if (isFigureName(name) && ms !== undefined) validityMs[name] = ms;
  }
  return {
    // A figure loadwise does not measure can never be fresh; drop it rather than carry it.
    predicates: policy.predicate.flatMap((p) =>
      isFigureName(p.name) ? [{ figure: p.name, limit: p.maxLimitPercent }] : [],
    ),
    priorities: policy.priority.flatMap((p) =>
      isFigureName(p.name) ? [{ figure: p.name, weight: p.weight }] : [],
    ),
    hotValue: policy.hotValue.map((h) => ({ timeRangeMs: h.timeRangeMs, count: h.count })),
    validityMs,
    hotValueValidityMs: hotValueValidityMs(policy),
    staleness: policy.staleness ?? DEFAULT_STALENESS,
    staleScore: policy.staleScore ?? DEFAULT_STALE_SCORE,
    futureSkewMs: policy.futureSkewMs ?? DEFAULT_FUTURE_SKEW_MS,
    estimate: { ...DEFAULT_ESTIMATE, ...policy.estimate },
    hotValuePenalty: policy.hotValuePenalty ?? DEFAULT_HOT_VALUE_PENALTY,
  };
}

/** How long the extender must remember a binding: the settle time or the longest hot-value range. */
export function bindingHorizonMs(rules: LoadRules): number {
  return Math.max(rules.estimate.settleMs, ...rules.hotValue.map((h) => h.timeRangeMs));
}
