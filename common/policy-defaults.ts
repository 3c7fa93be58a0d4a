// What each of loadwise's own policy settings means when the file leaves it out (a crane file
// always does). Beside the schema (policy.ts) so one place says what a policy file means; kept
// apart from it because the scheduling core and the simulator read these numbers and should not
// load the schema, YAML and Ajv to do so.
import type { EstimateRules, Staleness, StaleScore } from '../scheduler/core/load/rules.ts';

/**
 * crane-scheduler takes a full point (of 10) per unit of hot value because it has nothing else to
 * go on until the figures catch up. loadwise already adds each of its bindings' estimated usage to
 * the node, so the hot value only has to break near-ties; a full point would push a burst onto
 * nodes that are really busy (scheduler/core/load/burst.test.ts).
 */
export const DEFAULT_HOT_VALUE_PENALTY = 0.2;

/**
 * A missing, expired or future-dated figure lets the node pass the filter (crane-scheduler's rule):
 * a dead agent must not empty the cluster of candidates; `deny` is the stricter choice.
 */
export const DEFAULT_STALENESS: Staleness = 'allow';

/** A stale priority figure counts as fully used (crane-scheduler's rule): a node whose agent died sinks. */
export const DEFAULT_STALE_SCORE: StaleScore = 'used';

/**
 * Share of max(request, limit) a new pod is expected to use (Koordinator's 0.85 / 0.70), released
 * over 30 s of measured time after the binding (tuned on the real-load simulator, README).
 */
export const DEFAULT_ESTIMATE: EstimateRules = { cpuFactor: 0.85, memoryFactor: 0.7, settleMs: 30_000 };

/**
 * How far ahead of a reader's clock an annotation's timestamp may lie and still be believed (the
 * policy's `futureSkew`): the writer's and the reader's clocks differ a little. Further ahead, the
 * figure is not fresh for the extender, and the controller overwrites it rather than keep it as
 * "newer" than its own measurement; otherwise one bad timestamp would freeze a figure for good.
 */
export const DEFAULT_FUTURE_SKEW_MS = 30_000;
