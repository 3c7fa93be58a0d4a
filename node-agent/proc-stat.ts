// The aggregate `cpu` line of /proc/stat, parsed straight from bytes and turned into a busy
// fraction over the interval between two reads.

/** Columns of the `cpu` line, in kernel order (see proc(5)). */
export const CPU_FIELDS = [
  'user',
  'nice',
  'system',
  'idle',
  'iowait',
  'irq',
  'softirq',
  'steal',
  'guest',
  'guest_nice',
] as const;
const IDLE = 3;
const IOWAIT = 4;
/** user..steal: guest and guest_nice are already counted inside user and nice. */
const TOTAL_FIELDS = 8;
/** Kernels before 2.5.41 print only user, nice, system, idle. */
const MIN_FIELDS = 4;

export type CpuParseOutcome = 'ok' | 'truncated' | 'malformed';

const C = (ch: string) => ch.charCodeAt(0);
const SPACE = C(' ');
const NEWLINE = C('\n');
const ZERO = C('0');
const NINE = C('9');

/**
 * Parses the first line of /proc/stat (`cpu  user nice system idle ...`) from `buf[0..length)`
 * into `out` (CPU_FIELDS order; missing trailing fields are 0). Allocates nothing.
 */
export function parseCpuLine(buf: Buffer, length: number, out: Float64Array): CpuParseOutcome {
  if (length < 4 || buf[0] !== C('c') || buf[1] !== C('p') || buf[2] !== C('u') || buf[3] !== SPACE) {
    return length === 0 ? 'truncated' : 'malformed';
  }
  out.fill(0);
  let field = 0;
  let i = 4;
  for (;;) {
    while (i < length && buf[i] === SPACE) i++;
    if (i >= length) return 'truncated';
    const ch = buf[i]!;
    if (ch === NEWLINE) break;
    if (ch < ZERO || ch > NINE) return 'malformed';
    let value = 0;
    while (i < length && buf[i]! >= ZERO && buf[i]! <= NINE) {
      value = value * 10 + (buf[i]! - ZERO);
      i++;
    }
    if (i >= length) return 'truncated';
    if (buf[i] !== SPACE && buf[i] !== NEWLINE) return 'malformed';
    if (!Number.isSafeInteger(value)) return 'malformed';
    // Newer kernels may add columns; they are not part of the total we define.
    if (field < out.length) out[field] = value;
    field++;
  }
  return field >= MIN_FIELDS ? 'ok' : 'malformed';
}

export type CpuDeltaOutcome = 'ok' | 'first' | 'counter_reset' | 'no_progress';

/**
 * Keeps the previous counters and turns each new reading into busy = 1 − Δ(idle+iowait)/Δtotal.
 * iowait alone may decrease on tickless kernels (proc(5)), so idle and iowait are judged together.
 */
export class CpuUsage {
  private hasPrevious = false;
  private prevTotal = 0;
  private prevIdle = 0;
  /** Busy fraction of the last interval when `update` returned 'ok'. */
  busy = 0;

  update(fields: Float64Array): CpuDeltaOutcome {
    let total = 0;
    for (let f = 0; f < TOTAL_FIELDS; f++) total += fields[f]!;
    const idle = fields[IDLE]! + fields[IOWAIT]!;
    const had = this.hasPrevious;
    const dTotal = total - this.prevTotal;
    const dIdle = idle - this.prevIdle;
    this.hasPrevious = true;
    this.prevTotal = total;
    this.prevIdle = idle;
    if (!had) return 'first';
    if (dTotal < 0 || dIdle < 0 || dTotal - dIdle < 0) return 'counter_reset';
    if (dTotal === 0) return 'no_progress';
    // Busy over total rather than 1 − idle/total: the same number, without the rounding of the subtraction.
    this.busy = Math.min(1, (dTotal - dIdle) / dTotal);
    return 'ok';
  }
}
