// crane-scheduler's annotation format, exactly as crane writes and reads it, for the compatibility
// switches (controller --crane-compat, extender --crane-keys). crane's node-annotator writes
// `<value formatted %.5f>,<time>` where the time is Go's layout `2006-01-02T15:04:05Z` formatted in
// the zone of `TZ` (default Asia/Shanghai): local wall time followed by a literal Z, which is not
// UTC. Its scheduler plugin parses it with time.ParseInLocation in the same zone. A figure stays
// valid for its sync period plus five minutes; the hot value for five minutes flat.
import { clip, type DecodeResult } from './annotations.ts';
import { type DateTimeFields, dateTimeFields } from './time.ts';

/** Go's reference layout crane uses (`utils.TimeFormat`); the trailing Z is a literal letter. */
export const CRANE_TIME_LAYOUT = '2006-01-02T15:04:05Z';
/** crane's zone when `TZ` is unset (`utils.DefaultTimeZone`). */
export const CRANE_DEFAULT_TIME_ZONE = 'Asia/Shanghai';
/** crane's plugin reads `node_hot_value` as valid for this long after its time (`DefautlHotVauleActivePeriod`). */
export const CRANE_HOT_VALUE_VALIDITY_MS = 5 * 60_000;

/** The zone crane would use in this environment: `TZ`, else Asia/Shanghai. */
export function craneTimeZone(env: Readonly<Record<string, string | undefined>>): string {
  const tz = env.TZ;
  return tz === undefined || tz === '' ? CRANE_DEFAULT_TIME_ZONE : tz;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** The formatter for a zone; throws a RangeError naming the zone when it is not an IANA zone. */
function formatterFor(zone: string): Intl.DateTimeFormat {
  let f = formatters.get(zone);
  if (!f) {
    try {
      f = new Intl.DateTimeFormat('en-US', {
        timeZone: zone,
        hourCycle: 'h23',
        year: 'numeric',
        month: '2-digit',
        day: '2-digit',
        hour: '2-digit',
        minute: '2-digit',
        second: '2-digit',
      });
    } catch {
      throw new RangeError(
        `"${zone}" is not a time zone (expected an IANA name such as Asia/Shanghai or UTC)`,
      );
    }
    formatters.set(zone, f);
  }
  return f;
}

/** Whether `zone` is a time zone this runtime knows (what Go's time.LoadLocation would accept). */
export function isTimeZone(zone: string): boolean {
  try {
    formatterFor(zone);
    return true;
  } catch {
    return false;
  }
}

type Wall = DateTimeFields;

function wallTime(epochMs: number, zone: string): Wall {
  const parts: Record<string, number> = {};
  for (const p of formatterFor(zone).formatToParts(new Date(epochMs))) {
    if (p.type !== 'literal') parts[p.type] = Number(p.value);
  }
  return {
    year: parts.year!,
    month: parts.month!,
    day: parts.day!,
    hour: parts.hour!,
    minute: parts.minute!,
    second: parts.second!,
  };
}

/** The wall time read as if it were UTC (epoch ms); the difference to the instant is the zone offset. */
function wallAsUtc(w: Wall): number {
  const d = new Date(Date.UTC(2000, w.month - 1, w.day, w.hour, w.minute, w.second));
  d.setUTCFullYear(w.year);
  return d.getTime();
}

function offsetMs(epochMs: number, zone: string): number {
  return wallAsUtc(wallTime(epochMs, zone)) - epochMs;
}

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

/** Formats an instant the way crane does: wall time in `zone`, whole seconds, literal Z. */
export function formatCraneTime(epochMs: number, zone: string): string {
  const w = wallTime(Math.floor(epochMs / 1000) * 1000, zone);
  return `${pad(w.year, 4)}-${pad(w.month)}-${pad(w.day)}T${pad(w.hour)}:${pad(w.minute)}:${pad(w.second)}Z`;
}

const CRANE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})Z$/;

/**
 * Parses crane's time as a wall time in `zone` (Go's time.ParseInLocation); undefined when the text
 * is not in crane's layout or names no real date.
 */
export function parseCraneTime(text: string, zone: string): number | undefined {
  const m = CRANE_TIME.exec(text);
  const wall = m ? dateTimeFields(m) : undefined;
  if (!wall) return undefined;
  const asUtc = wallAsUtc(wall);
  // The zone's offset at the guessed instant, then once more at the corrected one (a DST change
  // between the two moves the offset; Go settles the same way for all but the skipped hour).
  let instant = asUtc - offsetMs(asUtc, zone);
  instant = asUtc - offsetMs(instant, zone);
  return instant;
}

const DECIMAL = /^\d+(\.\d+)?$/;

/** `<fraction %.5f>,<crane time>`: what crane's annotator writes for a figure. */
export function encodeCraneFraction(fraction: number, epochMs: number, zone: string): string {
  if (!Number.isFinite(fraction) || fraction < 0 || fraction > 1) {
    throw new RangeError(`fraction must be within 0..1, got ${fraction}`);
  }
  return `${fraction.toFixed(5)},${formatCraneTime(epochMs, zone)}`;
}

/** `<count>,<crane time>`: crane's `node_hot_value`. */
export function encodeCraneCount(count: number, epochMs: number, zone: string): string {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`count must be a non-negative integer, got ${count}`);
  }
  return `${count},${formatCraneTime(epochMs, zone)}`;
}

function decodeCrane(text: string, zone: string, kind: 'fraction' | 'count'): DecodeResult {
  const parts = text.split(',');
  if (parts.length !== 2) return { ok: false, error: `expected "<value>,<crane time>", got "${clip(text)}"` };
  const [number, time] = parts as [string, string];
  const timestampMs = parseCraneTime(time, zone);
  if (timestampMs === undefined)
    return { ok: false, error: `"${clip(time)}" is not a crane time (${CRANE_TIME_LAYOUT} in ${zone})` };
  if (!DECIMAL.test(number))
    return { ok: false, error: `"${clip(number)}" is not a plain non-negative decimal` };
  const value = Number(number);
  if (kind === 'fraction' && !(value <= 1))
    return { ok: false, error: `${number} is above 1 (crane's figures are fractions 0..1)` };
  if (kind === 'count' && !Number.isSafeInteger(value))
    return { ok: false, error: `${number} is not a whole count` };
  return { ok: true, annotation: { value, timestampMs } };
}

/** Strict decode of a crane figure annotation read in `zone`; never throws. */
export function decodeCraneFraction(text: string, zone: string): DecodeResult {
  return decodeCrane(text, zone, 'fraction');
}

/** Strict decode of crane's `node_hot_value` read in `zone`; never throws. */
export function decodeCraneCount(text: string, zone: string): DecodeResult {
  return decodeCrane(text, zone, 'count');
}
