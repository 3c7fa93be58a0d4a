// /proc/meminfo parsed straight from bytes into the used-memory fraction.

export type MemParseOutcome = 'ok' | 'truncated' | 'malformed';

// Keys we read, as bytes, and where each lands in the output array.
const KEYS = [
  'MemTotal',
  'MemFree',
  'MemAvailable',
  'Buffers',
  'Cached',
  'SReclaimable',
  'Active(file)',
  'Inactive(file)',
] as const;
const [TOTAL, FREE, AVAILABLE, BUFFERS, CACHED, SRECLAIMABLE, ACTIVE_FILE, INACTIVE_FILE] = [
  0, 1, 2, 3, 4, 5, 6, 7,
] as const;
const KEY_BYTES = KEYS.map((k) => Buffer.from(k, 'latin1'));

const COLON = 0x3a;
const SPACE = 0x20;
const NEWLINE = 0x0a;
const ZERO = 0x30;
const NINE = 0x39;

/** Result of parsing: the fraction and whether MemAvailable had to be estimated. */
export class MemReading {
  usedFraction = 0;
  /** True when the kernel has no MemAvailable (before 3.14) and we estimated it. */
  estimated = false;
  readonly values = new Float64Array(KEYS.length);
  readonly present = new Uint8Array(KEYS.length);
}

function keyIndex(buf: Buffer, start: number, end: number): number {
  const len = end - start;
  for (let k = 0; k < KEY_BYTES.length; k++) {
    const key = KEY_BYTES[k]!;
    if (key.length === len && buf.compare(key, 0, len, start, end) === 0) return k;
  }
  return -1;
}

/**
 * Parses `buf[0..length)`. Used = 1 − MemAvailable/MemTotal. Without MemAvailable the kernel's
 * own older estimate is used: MemFree + Active(file) + Inactive(file) + SReclaimable, or, where
 * those are missing too, MemFree + Buffers + Cached.
 */
export function parseMeminfo(buf: Buffer, length: number, out: MemReading): MemParseOutcome {
  out.values.fill(0);
  out.present.fill(0);
  if (length === 0) return 'truncated';
  if (buf[length - 1] !== NEWLINE) return 'truncated';
  let i = 0;
  while (i < length) {
    const lineStart = i;
    while (i < length && buf[i] !== COLON && buf[i] !== NEWLINE) i++;
    if (i >= length || buf[i] === NEWLINE) return 'malformed';
    const k = keyIndex(buf, lineStart, i);
    i++;
    while (i < length && buf[i] === SPACE) i++;
    let value = 0;
    let digits = 0;
    while (i < length && buf[i]! >= ZERO && buf[i]! <= NINE) {
      value = value * 10 + (buf[i]! - ZERO);
      digits++;
      i++;
    }
    if (k >= 0) {
      if (digits === 0 || !Number.isSafeInteger(value)) return 'malformed';
      out.values[k] = value;
      out.present[k] = 1;
    }
    while (i < length && buf[i] !== NEWLINE) i++;
    i++;
  }
  const total = out.values[TOTAL]!;
  if (!out.present[TOTAL] || total <= 0) return 'malformed';
  let available: number;
  if (out.present[AVAILABLE]) {
    available = out.values[AVAILABLE]!;
    out.estimated = false;
  } else if (!out.present[FREE]) {
    return 'malformed';
  } else {
    out.estimated = true;
    const v = out.values;
    available =
      out.present[ACTIVE_FILE] && out.present[INACTIVE_FILE]
        ? v[FREE]! + v[ACTIVE_FILE]! + v[INACTIVE_FILE]! + v[SRECLAIMABLE]!
        : v[FREE]! + v[BUFFERS]! + v[CACHED]!;
  }
  out.usedFraction = Math.min(1, Math.max(0, 1 - available / total));
  return 'ok';
}
