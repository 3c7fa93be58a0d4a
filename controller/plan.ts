// Deciding what to write on one Node: the PATCH-economy rule. Pure, so the rule is tested on its
// own and the sync loop only carries it out.
import {
  craneAnnotationKey,
  decodeCount,
  type DecodeResult,
  decodeFraction,
  encodeCount,
  encodeFraction,
  figureAnnotationKey,
  HOT_VALUE_ANNOTATION,
} from '../contracts/annotations.ts';
import { DEFAULT_FUTURE_SKEW_MS } from '../common/policy-defaults.ts';
import {
  CRANE_DEFAULT_TIME_ZONE,
  CRANE_HOT_VALUE_VALIDITY_MS,
  decodeCraneCount,
  decodeCraneFraction,
  encodeCraneCount,
  encodeCraneFraction,
} from '../contracts/crane.ts';
import { type FigureName, HOT_VALUE, isFigureName } from '../contracts/figures.ts';
import { figureValidityMs, hotValueValidityMs, type SchedulerPolicy } from '../common/policy.ts';
import { GPU_INVENTORY_ANNOTATION, GPU_NODE_LABELS } from '../contracts/gpu-inventory.ts';

export interface PlanOptions {
  /** A figure is rewritten when it moved by at least this much (fraction). */
  minChange: number;
  /** Also write crane-scheduler's bare keys, in crane's format and zone. */
  craneCompat: boolean;
  /** The zone crane reads its times in (crane's `TZ`, default Asia/Shanghai); used with craneCompat. */
  craneTimeZone?: string;
  /** The figures to write and how long each stays valid once written. */
  validityMs: ReadonlyMap<FigureName, number>;
  /** How long a written hot value stays valid. */
  hotValueValidityMs: number;
  /**
   * A written timestamp further than this ahead of `nowMs` is not believed: it is overwritten,
   * never kept as "newer" than a real measurement (policy `futureSkew`; DEFAULT_FUTURE_SKEW_MS
   * when absent).
   */
  futureSkewMs?: number;
}

export interface PlanInput {
  /** The Node's annotations as last seen. */
  annotations: Readonly<Record<string, string>> | undefined;
  /** The Node's labels as last seen. */
  labels?: Readonly<Record<string, string>> | undefined;
  /**
   * The GPU labels the node should carry (gpuNodeLabels; empty: none, so any are removed); absent
   * when the agent could not be read, and then the labels are left as they are.
   */
  gpuLabels?: Readonly<Record<string, string>>;
  /**
   * What the agent reported; absent when the agent could not be read. `measuredAtMs` is by the
   * controller's clock (its time of asking minus the agent's sample age), never the agent's.
   */
  stats?: { figures: Partial<Record<FigureName, number>>; measuredAtMs: number };
  /** The node's hot value; absent until the Pod watch has synced. */
  hotValue?: number;
  /** The node's GPU inventory, encoded; absent when the agent reports no GPUs or could not be read. */
  inventory?: string;
  nowMs: number;
}

export type WriteReason =
  'missing' | 'moved' | 'expiring' | 'future' | 'hot_value' | 'compat' | 'inventory' | 'labels';

export interface Plan {
  /** The annotations for one merge patch. */
  annotations: Record<string, string>;
  /** The GPU labels that change in the same patch (null: remove); empty when none do. */
  labels: Record<string, string | null>;
  reasons: WriteReason[];
  /**
   * A refresh of unchanged figures that may wait for a later cycle: nothing moved, and every
   * figure still has over a quarter of its validity left. Lets the controller spread refreshes.
   */
  deferrable: boolean;
  /** When the oldest figure in this patch was written (epoch ms); refreshes go oldest first. */
  oldestWrittenMs: number;
}

/** The rule's options for a policy: which figures are written and how long each stays valid. */
export function planOptionsFor(
  policy: SchedulerPolicy,
  minChange: number,
  craneCompat: boolean,
): PlanOptions {
  const validityMs = new Map<FigureName, number>();
  for (const entry of policy.syncPolicy) {
    const validity = figureValidityMs(policy, entry.name);
    if (isFigureName(entry.name) && validity !== undefined) validityMs.set(entry.name, validity);
  }
  return {
    minChange,
    craneCompat,
    validityMs,
    hotValueValidityMs: hotValueValidityMs(policy),
    futureSkewMs: policy.futureSkewMs ?? DEFAULT_FUTURE_SKEW_MS,
  };
}

/** A refresh may wait until a figure has used this share of its validity, never longer. */
const LATEST_REFRESH = 0.75;

// Values are written with 5 decimals; compare with a hair of tolerance so 0.02 stays 0.02.
const EPSILON = 1e-9;

function inFuture(timestampMs: number, nowMs: number, options: PlanOptions): boolean {
  return timestampMs > nowMs + (options.futureSkewMs ?? DEFAULT_FUTURE_SKEW_MS);
}

/** Whether crane's key holds the same value and time as loadwise's (read in crane's zone). */
function mirrors(
  text: string | undefined,
  written: { value: number; timestampMs: number },
  zone: string,
  decode: (text: string, zone: string) => DecodeResult,
): boolean {
  if (text === undefined) return false;
  const decoded = decode(text, zone);
  return (
    decoded.ok &&
    decoded.annotation.timestampMs === written.timestampMs &&
    Math.abs(decoded.annotation.value - written.value) < EPSILON
  );
}

/**
 * The annotations to patch onto a node, or undefined when nothing is due. Something is due when a
 * figure is missing or unreadable, moved by at least `minChange`, or was written more than half
 * its validity ago; or when the hot value changed or is half-way to expiry (a refresh, like an
 * expiring figure). Whenever a patch goes
 * out anyway, every figure with a newer measurement rides along, so the node's timestamps stay
 * aligned and the shortest validity alone sets the steady-state PATCH rate. A figure the agent
 * did not report is left alone (it expires on its own), and a timestamp never moves backwards,
 * except from a bogus one: a written timestamp more than `futureSkewMs` ahead of now (an agent that
 * dated by its own fast clock under an older controller, a hand edit, a forgery) is overwritten at
 * once, or it would freeze the figure until that date.
 */
export function planNodePatch(input: PlanInput, options: PlanOptions): Plan | undefined {
  const current = input.annotations ?? {};
  const due = new Set<WriteReason>();
  const out: Record<string, string> = {};
  let oldestWrittenMs = Number.POSITIVE_INFINITY;
  let urgent = false;
  const crane = options.craneCompat ? (options.craneTimeZone ?? CRANE_DEFAULT_TIME_ZONE) : undefined;
  if (input.stats) {
    const { figures } = input.stats;
    // Annotations carry whole seconds: compare at that precision, or one measurement looks newer
    // than itself once written.
    const measuredAtMs = Math.floor(input.stats.measuredAtMs / 1000) * 1000;
    for (const [figure, validityMs] of options.validityMs) {
      const value = figures[figure];
      if (value === undefined) continue;
      const key = figureAnnotationKey(figure);
      const written = decodeFraction(current[key] ?? '');
      const future = written.ok && inFuture(written.annotation.timestampMs, input.nowMs, options);
      if (written.ok && !future && measuredAtMs <= written.annotation.timestampMs) continue;
      out[key] = encodeFraction(value, measuredAtMs);
      if (crane) out[craneAnnotationKey(figure)] = encodeCraneFraction(value, measuredAtMs, crane);
      if (written.ok) {
        const age = input.nowMs - written.annotation.timestampMs;
        oldestWrittenMs = Math.min(oldestWrittenMs, written.annotation.timestampMs);
        if (age > validityMs * LATEST_REFRESH) urgent = true;
      }
      if (!written.ok) due.add('missing');
      else if (future) due.add('future');
      else if (Math.abs(value - written.annotation.value) >= options.minChange - EPSILON) due.add('moved');
      else if (input.nowMs - written.annotation.timestampMs > validityMs / 2) due.add('expiring');
      else if (
        crane &&
        !mirrors(current[craneAnnotationKey(figure)], written.annotation, crane, decodeCraneFraction)
      )
        due.add('compat');
    }
  }
  if (input.hotValue !== undefined) {
    const written = decodeCount(current[HOT_VALUE_ANNOTATION] ?? '');
    // crane reads its hot value as valid for five minutes flat: refresh in time for that reader too.
    const hotValidityMs = crane
      ? Math.min(options.hotValueValidityMs, CRANE_HOT_VALUE_VALIDITY_MS)
      : options.hotValueValidityMs;
    if (written.ok) {
      oldestWrittenMs = Math.min(oldestWrittenMs, written.annotation.timestampMs);
      if (input.nowMs - written.annotation.timestampMs > hotValidityMs * LATEST_REFRESH) urgent = true;
    }
    if (!written.ok || written.annotation.value !== input.hotValue) due.add('hot_value');
    else if (inFuture(written.annotation.timestampMs, input.nowMs, options)) due.add('future');
    else if (input.nowMs - written.annotation.timestampMs > hotValidityMs / 2) due.add('expiring');
    else if (
      crane &&
      !mirrors(current[craneAnnotationKey(HOT_VALUE)], written.annotation, crane, decodeCraneCount)
    )
      due.add('compat');
    out[HOT_VALUE_ANNOTATION] = encodeCount(input.hotValue, input.nowMs);
    if (crane) out[craneAnnotationKey(HOT_VALUE)] = encodeCraneCount(input.hotValue, input.nowMs, crane);
  }
  // The inventory changes only when GPUs come, go or change health: written then, and carried on
  // any other patch only if it differs, so it costs no PATCHes of its own at a steady state.
  if (input.inventory !== undefined && current[GPU_INVENTORY_ANNOTATION] !== input.inventory) {
    out[GPU_INVENTORY_ANNOTATION] = input.inventory;
    due.add('inventory');
  }
  // GPU labels: like the inventory, written only when they differ from what the node carries.
  const labels: Record<string, string | null> = {};
  if (input.gpuLabels !== undefined) {
    const have = input.labels ?? {};
    for (const key of Object.values(GPU_NODE_LABELS)) {
      const want = input.gpuLabels[key];
      if (want !== undefined && have[key] !== want) labels[key] = want;
      else if (want === undefined && have[key] !== undefined) labels[key] = null;
    }
    if (Object.keys(labels).length > 0) due.add('labels');
  }
  if (due.size === 0) return undefined;
  const reasons = [...due];
  return {
    annotations: out,
    labels,
    reasons,
    deferrable: reasons.length === 1 && reasons[0] === 'expiring' && !urgent,
    oldestWrittenMs: Number.isFinite(oldestWrittenMs) ? oldestWrittenMs : input.nowMs,
  };
}
