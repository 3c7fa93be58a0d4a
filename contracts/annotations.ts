// Node annotations: keys and the value codec. Every component reads and writes them through here.
import { type FigureName, HOT_VALUE } from './figures.ts';
import { formatRfc3339, parseRfc3339 } from './time.ts';

export const ANNOTATION_PREFIX = 'loadwise.io/';

/** `loadwise.io/<figure>`: the key the controller writes and the extender reads. */
export function figureAnnotationKey(figure: FigureName | typeof HOT_VALUE): string {
  return `${ANNOTATION_PREFIX}${figure}`;
}

/** crane-scheduler's bare key (`cpu_usage_avg_5m`), written too in compatibility mode. */
export function craneAnnotationKey(figure: FigureName | typeof HOT_VALUE): string {
  return figure;
}

export const HOT_VALUE_ANNOTATION = figureAnnotationKey(HOT_VALUE);

/** A decoded annotation: the figure and when it was measured (epoch ms). */
export interface AnnotatedValue {
  value: number;
  timestampMs: number;
}

export type DecodeResult = { ok: true; annotation: AnnotatedValue } | { ok: false; error: string };

const FRACTION_DECIMALS = 5;
// Plain decimal notation only: no sign, exponent, NaN or Infinity.
const DECIMAL = /^\d+(\.\d+)?$/;

/** `<fraction with 5 decimals>,<RFC 3339 UTC>`: e.g. `0.35000,2026-11-22T06:07:12Z`. */
export function encodeFraction(fraction: number, timestampMs: number): string {
  if (!Number.isFinite(fraction) || fraction < 0 || fraction > 1) {
    throw new RangeError(`fraction must be within 0..1, got ${fraction}`);
  }
  return `${fraction.toFixed(FRACTION_DECIMALS)},${formatRfc3339(timestampMs)}`;
}

/** `<non-negative integer>,<RFC 3339 UTC>`: the hot value, a count of recent bindings. */
export function encodeCount(count: number, timestampMs: number): string {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new RangeError(`count must be a non-negative integer, got ${count}`);
  }
  return `${count},${formatRfc3339(timestampMs)}`;
}

function split(text: string): { number: string; time: number } | string {
  const comma = text.indexOf(',');
  if (comma < 0 || comma !== text.lastIndexOf(','))
    return `expected "<value>,<RFC 3339 time>", got "${clip(text)}"`;
  const number = text.slice(0, comma);
  const time = parseRfc3339(text.slice(comma + 1));
  if (time === undefined) return `"${clip(text.slice(comma + 1))}" is not an RFC 3339 time`;
  if (!DECIMAL.test(number)) return `"${clip(number)}" is not a plain non-negative decimal`;
  return { number, time };
}

/** Strict decode of a fraction annotation; never throws. */
export function decodeFraction(text: string): DecodeResult {
  const parts = split(text);
  if (typeof parts === 'string') return { ok: false, error: parts };
  const value = Number(parts.number);
  if (!(value <= 1)) return { ok: false, error: `${parts.number} is above 1 (figures are fractions 0..1)` };
  return { ok: true, annotation: { value, timestampMs: parts.time } };
}

/** Strict decode of a count annotation (hot value); never throws. */
export function decodeCount(text: string): DecodeResult {
  const parts = split(text);
  if (typeof parts === 'string') return { ok: false, error: parts };
  const value = Number(parts.number);
  if (!Number.isSafeInteger(value)) return { ok: false, error: `${parts.number} is not a whole count` };
  return { ok: true, annotation: { value, timestampMs: parts.time } };
}

/** Shortens text quoted in an error message. */
export function clip(text: string): string {
  return text.length > 64 ? `${text.slice(0, 61)}...` : text;
}
