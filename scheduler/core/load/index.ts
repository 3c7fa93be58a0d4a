// Filter and score on real load: pure functions over one node's figures, the extender's own recent
// bindings on it, and the rules. The HTTP extender, the local mode and the simulator all call these.
export { type LoadVerdict, filterByLoad, OVER_TEXT_CACHE_SIZE } from './filter.ts';
export { type LoadScore, MAX_SCORE, NEUTRAL_SCORE, scoreByLoad } from './score.ts';
export { hotValue, pendingFraction } from './estimate.ts';
export { type NodeLoad, type StaleObserver } from './freshness.ts';
