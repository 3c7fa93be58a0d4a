// The load filter: a node is rejected when a fresh figure, with what the extender bound there since
// it was measured, is above its threshold. Pure: the extender, the local mode and the simulator call it.
import type { FigureName } from '../../../contracts/index.ts';
import { pendingAt } from './estimate.ts';
import {
  compile,
  describeStale,
  freshValue,
  type NodeLoad,
  type StaleObserver,
  staleReason,
  type Term,
} from './freshness.ts';
import type { LoadRules } from './rules.ts';

/** A rejection names the figure that caused it, so callers can count rejections by figure. */
export type LoadVerdict = { ok: true } | { ok: false; figure: FigureName; reason: string };

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

/** Distinct values whose rejection text a predicate keeps before it starts over. */
export const OVER_TEXT_CACHE_SIZE = 4096;

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
