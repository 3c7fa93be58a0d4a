// The scheduling policy file, shared by the controller (which figures to write, how long they stay
// valid, the hot-value rule) and the extender (thresholds, weights). Two spellings are accepted:
// loadwise's own `SchedulerPolicy`, and crane-scheduler's `DynamicSchedulerPolicy` unchanged, so a
// crane installation can switch over with its existing file.
import { open } from 'node:fs/promises';
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { Ajv, type ErrorObject } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { isFigureName } from '../contracts/figures.ts';
import { parseDuration } from './duration.ts';

/** Where components look for the policy unless told otherwise (relative to the working directory). */
export const DEFAULT_POLICY_PATH = 'configs/policy.yaml';

export const POLICY_API_VERSION = 'loadwise.io/v1alpha1';
export const POLICY_KIND = 'SchedulerPolicy';
export const CRANE_POLICY_API_VERSION = 'scheduler.policy.crane.io/v1alpha1';
export const CRANE_POLICY_KIND = 'DynamicSchedulerPolicy';

/**
 * Grace a figure keeps beyond its sync period before it counts as expired. crane-scheduler adds
 * the same five minutes (its `ExtraActivePeriod`), so one policy file means the same on both.
 */
export const EXTRA_ACTIVE_PERIOD_MS = 5 * 60_000;

/** Largest policy file read; a policy is a few hundred bytes. */
const MAX_POLICY_BYTES = 1024 * 1024;

export interface SyncPolicy {
  name: string;
  periodMs: number;
}
export interface PredicatePolicy {
  name: string;
  /** Threshold as a fraction 0..1 (the file's maxLimitPercent / crane's maxLimitPecent). */
  maxLimitPercent: number;
}
export interface PriorityPolicy {
  name: string;
  weight: number;
}
export interface HotValuePolicy {
  timeRangeMs: number;
  count: number;
}

/** How a new pod's load is estimated until the node's figures show it (extender). */
export interface EstimatePolicy {
  /** Share of max(request, limit) expected in use, per resource. */
  cpuFactor?: number;
  memoryFactor?: number;
  /** How long after a binding a figure is taken to include the pod. */
  settleMs?: number;
}

export interface SchedulerPolicy {
  /**
   * Which spelling the file used: loadwise's SchedulerPolicy, crane-scheduler's
   * DynamicSchedulerPolicy, or crane-scheduler-plus's metric sync file (`metrics:` only).
   */
  format: 'loadwise' | 'crane' | 'crane-metrics';
  syncPolicy: SyncPolicy[];
  predicate: PredicatePolicy[];
  priority: PriorityPolicy[];
  hotValue: HotValuePolicy[];
  // loadwise's own settings; absent from a crane file. Undefined means the extender's default.
  /** What a missing, expired or future-dated figure means for the filter: pass (allow) or reject (deny). */
  staleness?: 'allow' | 'deny';
  /** What a stale priority figure means for the score: fully used (used, crane's rule) or left out (ignore). */
  staleScore?: 'used' | 'ignore';
  /** How far ahead of the reader's clock a figure's timestamp may be and still be believed. */
  futureSkewMs?: number;
  estimate?: EstimatePolicy;
  /** Score points (of 10) taken off per unit of hot value. */
  hotValuePenalty?: number;
}

export type PolicyResult =
  { ok: true; policy: SchedulerPolicy; warnings: string[] } | { ok: false; error: string };

const Name = Type.String({ pattern: '^[a-z][a-z0-9_]*$', maxLength: 128 });
const Duration = Type.String({ minLength: 1, maxLength: 64 });
const Entries = <T extends TSchema>(item: T) => Type.Array(item, { maxItems: 256 });
const Strict = { additionalProperties: false } as const;

const LoadwisePolicySchema = Type.Object(
  {
    apiVersion: Type.Literal(POLICY_API_VERSION),
    kind: Type.Literal(POLICY_KIND),
    metadata: Type.Optional(Type.Object({ name: Type.Optional(Type.String()) })),
    syncPolicy: Entries(Type.Object({ name: Name, period: Duration }, Strict)),
    predicate: Type.Optional(
      Entries(Type.Object({ name: Name, maxLimitPercent: Type.Number({ minimum: 0 }) }, Strict)),
    ),
    priority: Type.Optional(
      Entries(Type.Object({ name: Name, weight: Type.Number({ minimum: 0 }) }, Strict)),
    ),
    hotValue: Type.Optional(
      Entries(Type.Object({ timeRange: Duration, count: Type.Integer({ minimum: 1 }) }, Strict)),
    ),
    staleness: Type.Optional(Type.Union([Type.Literal('allow'), Type.Literal('deny')])),
    staleScore: Type.Optional(Type.Union([Type.Literal('used'), Type.Literal('ignore')])),
    futureSkew: Type.Optional(Duration),
    estimate: Type.Optional(
      Type.Object(
        {
          cpuFactor: Type.Optional(Type.Number({ minimum: 0, maximum: 4 })),
          memoryFactor: Type.Optional(Type.Number({ minimum: 0, maximum: 4 })),
          settle: Type.Optional(Duration),
        },
        Strict,
      ),
    ),
    hotValuePenalty: Type.Optional(Type.Number({ minimum: 0, maximum: 10 })),
  },
  Strict,
);

// crane decodes its file leniently (unknown fields are ignored), so this schema does too: a file
// that crane accepts must load here unchanged.
const CranePolicySchema = Type.Object({
  apiVersion: Type.Literal(CRANE_POLICY_API_VERSION),
  kind: Type.Literal(CRANE_POLICY_KIND),
  spec: Type.Object({
    syncPolicy: Entries(Type.Object({ name: Name, period: Duration })),
    predicate: Type.Optional(
      Entries(Type.Object({ name: Name, maxLimitPecent: Type.Number({ minimum: 0 }) })),
    ),
    priority: Type.Optional(Entries(Type.Object({ name: Name, weight: Type.Number({ minimum: 0 }) }))),
    hotValue: Type.Optional(
      Entries(Type.Object({ timeRange: Duration, count: Type.Integer({ minimum: 1 }) })),
    ),
  }),
});

// crane-scheduler-plus's metric sync file: a bare list of the figures its controller syncs and how
// often, with no apiVersion or kind (`metrics: [{name: cpu_usage_avg_5m, period: 3m}, ...]`).
// Leniently decoded too, like crane's own file.
const CraneMetricsSchema = Type.Object({
  metrics: Entries(Type.Object({ name: Name, period: Duration })),
});

type LoadwisePolicyFile = Static<typeof LoadwisePolicySchema>;
type LoadwiseExtras = Pick<
  LoadwisePolicyFile,
  'staleness' | 'staleScore' | 'futureSkew' | 'estimate' | 'hotValuePenalty'
>;

/** Either spelling of the file, mapped onto one shape before durations and limits are checked. */
interface RawPolicy {
  format: SchedulerPolicy['format'];
  syncPolicy: Array<{ name: string; period: string }>;
  /** `field` is the file's own spelling of the threshold, for error messages. */
  predicate: Array<{ name: string; limit: number; field: string }>;
  priority: Array<{ name: string; weight: number }>;
  hotValue: Array<{ timeRange: string; count: number }>;
  extras?: LoadwiseExtras;
}
type CranePolicyFile = Static<typeof CranePolicySchema>;

const ajv = new Ajv({ allErrors: false, strict: true });
const validateLoadwise = ajv.compile<LoadwisePolicyFile>(LoadwisePolicySchema);
const validateCrane = ajv.compile<CranePolicyFile>(CranePolicySchema);
const validateCraneMetrics = ajv.compile<Static<typeof CraneMetricsSchema>>(CraneMetricsSchema);

function schemaError(origin: string, errors: ErrorObject[] | null | undefined): string {
  const e = errors?.[0];
  if (!e) return `${origin}: invalid policy`;
  const where = e.instancePath || '/';
  if (e.keyword === 'additionalProperties') {
    return `${origin}: ${where}: unknown field "${String(e.params.additionalProperty)}"`;
  }
  if (e.keyword === 'const') return `${origin}: ${where} must be "${String(e.params.allowedValue)}"`;
  return `${origin}: ${where} ${e.message ?? 'is invalid'}`;
}

/** Parses and validates policy YAML. Never throws: a bad file is an error with a readable reason. */
export function parsePolicy(text: string, origin = 'policy'): PolicyResult {
  let doc: unknown;
  try {
    doc = parseYaml(text, { uniqueKeys: true, maxAliasCount: 100 });
  } catch (err: unknown) {
    return { ok: false, error: `${origin}: not valid YAML: ${(err as Error).message.split('\n')[0]}` };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
    return { ok: false, error: `${origin}: expected a mapping with apiVersion and kind` };
  }
  const header = doc as { apiVersion?: unknown; kind?: unknown };
  let raw: RawPolicy;
  if (header.apiVersion === CRANE_POLICY_API_VERSION || header.kind === CRANE_POLICY_KIND) {
    if (!validateCrane(doc)) return { ok: false, error: schemaError(origin, validateCrane.errors) };
    const { spec } = doc;
    raw = {
      format: 'crane',
      syncPolicy: spec.syncPolicy,
      predicate: (spec.predicate ?? []).map((p) => ({
        name: p.name,
        limit: p.maxLimitPecent,
        field: 'maxLimitPecent',
      })),
      priority: spec.priority ?? [],
      hotValue: spec.hotValue ?? [],
    };
  } else if (header.apiVersion === undefined && header.kind === undefined && 'metrics' in doc) {
    if (!validateCraneMetrics(doc))
      return { ok: false, error: schemaError(origin, validateCraneMetrics.errors) };
    raw = { format: 'crane-metrics', syncPolicy: doc.metrics, predicate: [], priority: [], hotValue: [] };
  } else {
    if (!validateLoadwise(doc)) return { ok: false, error: schemaError(origin, validateLoadwise.errors) };
    raw = {
      format: 'loadwise',
      syncPolicy: doc.syncPolicy,
      predicate: (doc.predicate ?? []).map((p) => ({
        name: p.name,
        limit: p.maxLimitPercent,
        field: 'maxLimitPercent',
      })),
      priority: doc.priority ?? [],
      hotValue: doc.hotValue ?? [],
      extras: {
        staleness: doc.staleness,
        staleScore: doc.staleScore,
        futureSkew: doc.futureSkew,
        estimate: doc.estimate,
        hotValuePenalty: doc.hotValuePenalty,
      },
    };
  }
  return finish(raw, origin);
}

function finish(raw: RawPolicy, origin: string): PolicyResult {
  const warnings: string[] = [];
  const duration = (text: string, where: string): number | string => {
    try {
      const ms = parseDuration(text);
      return ms > 0 ? ms : `${origin}: ${where}: must be longer than zero, got "${text}"`;
    } catch (err: unknown) {
      return `${origin}: ${where}: ${(err as Error).message}`;
    }
  };
  const seen = new Set<string>();
  const syncPolicy: SyncPolicy[] = [];
  // Errors name the list the way the file spells it.
  const list = raw.format === 'crane-metrics' ? 'metrics' : 'syncPolicy';
  for (const [i, entry] of raw.syncPolicy.entries()) {
    if (seen.has(entry.name))
      return { ok: false, error: `${origin}: ${list}: "${entry.name}" is listed twice` };
    seen.add(entry.name);
    const periodMs = duration(entry.period, `${list}[${i}] (${entry.name}) period`);
    if (typeof periodMs === 'string') return { ok: false, error: periodMs };
    if (!isFigureName(entry.name))
      warnings.push(`${list}: loadwise does not measure "${entry.name}"; it is ignored`);
    syncPolicy.push({ name: entry.name, periodMs });
  }
  const predicate: PredicatePolicy[] = [];
  for (const entry of raw.predicate) {
    if (entry.limit > 1) {
      return {
        ok: false,
        error: `${origin}: predicate "${entry.name}": ${entry.field} ${entry.limit} is above 1; thresholds are fractions (0.65 means 65%)`,
      };
    }
    if (!seen.has(entry.name)) {
      warnings.push(`predicate "${entry.name}" has no syncPolicy entry, so its figure never counts as fresh`);
    }
    predicate.push({ name: entry.name, maxLimitPercent: entry.limit });
  }
  const priority: PriorityPolicy[] = raw.priority.map((p) => ({ name: p.name, weight: p.weight }));
  const hotValue: HotValuePolicy[] = [];
  for (const [i, entry] of raw.hotValue.entries()) {
    const timeRangeMs = duration(entry.timeRange, `hotValue[${i}] timeRange`);
    if (typeof timeRangeMs === 'string') return { ok: false, error: timeRangeMs };
    hotValue.push({ timeRangeMs, count: entry.count });
  }
  if (raw.format === 'crane-metrics') {
    warnings.push(
      'a metrics sync file says only which figures the controller writes and how often; ' +
        'it sets no thresholds, weights or hot value, so an extender reading it filters and scores on nothing',
    );
  }
  const policy: SchedulerPolicy = { format: raw.format, syncPolicy, predicate, priority, hotValue };
  const extras = raw.extras;
  if (extras?.staleness) policy.staleness = extras.staleness;
  if (extras?.staleScore) policy.staleScore = extras.staleScore;
  if (extras?.futureSkew !== undefined) {
    const skew = futureSkewMs(extras.futureSkew, origin);
    if (typeof skew === 'string') return { ok: false, error: skew };
    policy.futureSkewMs = skew;
  }
  if (extras?.hotValuePenalty !== undefined) policy.hotValuePenalty = extras.hotValuePenalty;
  if (extras?.estimate) {
    const { cpuFactor, memoryFactor, settle } = extras.estimate;
    const estimate: EstimatePolicy = {};
    if (cpuFactor !== undefined) estimate.cpuFactor = cpuFactor;
    if (memoryFactor !== undefined) estimate.memoryFactor = memoryFactor;
    if (settle !== undefined) {
      const settleMs = duration(settle, 'estimate.settle');
      if (typeof settleMs === 'string') return { ok: false, error: settleMs };
      estimate.settleMs = settleMs;
    }
    policy.estimate = estimate;
  }
  return { ok: true, policy, warnings };
}

/**
 * Longest futureSkew accepted. A skew as long as a figure's validity would let a future-dated
 * figure outlive it, which is what the setting exists to prevent.
 */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;

/** `futureSkew` in ms (0 is allowed: clocks in lockstep), or why not. */
function futureSkewMs(text: string, origin: string): number | string {
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (err: unknown) {
    return `${origin}: futureSkew: ${(err as Error).message}`;
  }
  if (ms > MAX_FUTURE_SKEW_MS)
    return `${origin}: futureSkew: "${text}" is longer than ${MAX_FUTURE_SKEW_MS / 60_000}m; a figure dated that far ahead is not to be believed`;
  return ms;
}

/**
 * Reads a policy file's text, refusing one larger than MAX_POLICY_BYTES before reading it: a
 * policy is a few hundred bytes, and a huge file must not be pulled into memory on a reload.
 */
export async function readPolicyText(
  path: string,
): Promise<{ ok: true; text: string } | { ok: false; error: string }> {
  let file;
  try {
    file = await open(path, 'r');
  } catch (err: unknown) {
    return { ok: false, error: `${path}: cannot read: ${(err as Error).message}` };
  }
  try {
    // Read one byte more than allowed: a file that grows after a stat is caught as well.
    const buffer = Buffer.alloc(MAX_POLICY_BYTES + 1);
    let length = 0;
    for (;;) {
      const { bytesRead } = await file.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
      if (length > MAX_POLICY_BYTES)
        return { ok: false, error: `${path}: larger than ${MAX_POLICY_BYTES} bytes` };
    }
    return { ok: true, text: buffer.subarray(0, length).toString('utf8') };
  } catch (err: unknown) {
    return { ok: false, error: `${path}: cannot read: ${(err as Error).message}` };
  } finally {
    await file.close();
  }
}

/** Reads and parses a policy file; a missing, unreadable or oversized file is an error result. */
export async function loadPolicyFile(path: string): Promise<PolicyResult> {
  const read = await readPolicyText(path);
  return read.ok ? parsePolicy(read.text, path) : read;
}

/**
 * How long a written figure stays valid: its sync period plus the grace period; undefined for a
 * figure the policy does not sync (it is never written, so never fresh).
 */
export function figureValidityMs(policy: SchedulerPolicy, name: string): number | undefined {
  const entry = policy.syncPolicy.find((s) => s.name === name);
  return entry ? entry.periodMs + EXTRA_ACTIVE_PERIOD_MS : undefined;
}

/** The longest hot-value time range: bindings older than this never count. */
export function hotValueHorizonMs(policy: SchedulerPolicy): number {
  return policy.hotValue.reduce((max, h) => Math.max(max, h.timeRangeMs), 0);
}

/**
 * How long a written hot value stays valid: as long as the shortest-lived figure, so it is
 * refreshed on the same PATCHes; with no figures, the longest time range plus the grace period.
 */
export function hotValueValidityMs(policy: SchedulerPolicy): number {
  if (policy.syncPolicy.length === 0) return hotValueHorizonMs(policy) + EXTRA_ACTIVE_PERIOD_MS;
  return Math.min(...policy.syncPolicy.map((s) => s.periodMs)) + EXTRA_ACTIVE_PERIOD_MS;
}
