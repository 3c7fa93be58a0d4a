// One resource's usage history: the raw samples of the last five minutes and a day of one-minute
// buckets (time-weighted sums), both in rings allocated once. Adding a sample is O(1) and
// allocates nothing; reading the windows walks a day of buckets once (~1,450 slots).
import {
  MAX_AVG_SPAN_SECONDS,
  MAX_AVG_STEP_SECONDS,
  WINDOW_SPAN_SECONDS,
  type WindowName,
} from '../contracts/index.ts';

const STEP = MAX_AVG_STEP_SECONDS;
/** Buckets in one 5-minute average. */
const PER_AVERAGE = MAX_AVG_SPAN_SECONDS / STEP;
const DAY_S = WINDOW_SPAN_SECONDS.max_avg_1d;
const HOUR_S = WINDOW_SPAN_SECONDS.max_avg_1h;
/** A day of buckets, the ones before it that the day's first 5-minute average reaches back to, and the current one. */
const SLOTS = DAY_S / STEP + PER_AVERAGE + 1;

/** Windows of one resource at one instant; NaN marks a window without data. */
export class WindowValues {
  readonly value = new Float64Array(5);
  readonly coverage = new Float64Array(5);
}

/** Index of each window in WindowValues' arrays. */
export const WINDOW_INDEX: Readonly<Record<WindowName, number>> = {
  active: 0,
  avg_1m: 1,
  avg_5m: 2,
  max_avg_1h: 3,
  max_avg_1d: 4,
};

/** A sample stands for (t − seconds, t]; it belongs to the bucket holding its end, exclusive of the start. */
export function bucketOf(tSeconds: number): number {
  return Math.ceil(tSeconds / STEP) - 1;
}

export class WindowedSeries {
  // Raw ring: sample end time (s), value, and the seconds the sample stands for.
  private readonly rawT: Float64Array;
  private readonly rawV: Float64Array;
  private readonly rawD: Float64Array;
  private rawNext = 0;
  private rawCount = 0;

  // Bucket ring, slot = bucket number mod SLOTS; a slot holding another bucket number is stale.
  private readonly bucketId = new Float64Array(SLOTS).fill(-1);
  private readonly bucketWeighted = new Float64Array(SLOTS);
  private readonly bucketSeconds = new Float64Array(SLOTS);

  private lastT = Number.NEGATIVE_INFINITY;

  /** @param sampleIntervalSeconds the nominal period; sizes the raw ring to hold five minutes. */
  constructor(sampleIntervalSeconds: number) {
    const capacity = Math.ceil(WINDOW_SPAN_SECONDS.avg_5m / sampleIntervalSeconds) + 2;
    this.rawT = new Float64Array(capacity);
    this.rawV = new Float64Array(capacity);
    this.rawD = new Float64Array(capacity);
  }

  /**
   * Records `value` (0..1) for the `seconds` before `timeMs`. Samples must arrive in time order;
   * one that does not (the wall clock stepped back) is dropped and false is returned.
   */
  add(timeMs: number, value: number, seconds: number): boolean {
    const t = timeMs / 1000;
    if (!(t > this.lastT) || !(seconds > 0) || !(value >= 0 && value <= 1)) return false;
    this.lastT = t;

    const r = this.rawNext;
    this.rawT[r] = t;
    this.rawV[r] = value;
    this.rawD[r] = seconds;
    this.rawNext = (r + 1) % this.rawT.length;
    if (this.rawCount < this.rawT.length) this.rawCount++;

    const id = bucketOf(t);
    const slot = id % SLOTS;
    if (this.bucketId[slot] !== id) {
      this.bucketId[slot] = id;
      this.bucketWeighted[slot] = 0;
      this.bucketSeconds[slot] = 0;
    }
    this.bucketWeighted[slot]! += value * seconds;
    this.bucketSeconds[slot]! += seconds;
    return true;
  }

  /** Time of the newest sample, epoch ms, or undefined before the first. */
  get lastSampleMs(): number | undefined {
    return Number.isFinite(this.lastT) ? this.lastT * 1000 : undefined;
  }

  /** Every window as of `asOfMs` into `out`. */
  windows(asOfMs: number, out: WindowValues): WindowValues {
    const now = asOfMs / 1000;
    out.value.fill(Number.NaN);
    out.coverage.fill(0);

    const newest = (this.rawNext - 1 + this.rawT.length) % this.rawT.length;
    if (this.rawCount > 0 && this.rawT[newest]! <= now) {
      out.value[WINDOW_INDEX.active] = this.rawV[newest]!;
      out.coverage[WINDOW_INDEX.active] = this.rawD[newest]!;
    }
    this.rawMean(now, WINDOW_SPAN_SECONDS.avg_1m, out, WINDOW_INDEX.avg_1m);
    this.rawMean(now, WINDOW_SPAN_SECONDS.avg_5m, out, WINDOW_INDEX.avg_5m);
    this.maxOfAverages(now, out);
    return out;
  }

  /** Time-weighted mean of the raw samples; a sample counts for the part of its span inside the window. */
  private rawMean(now: number, span: number, out: WindowValues, index: number): void {
    const start = now - span;
    let weighted = 0;
    let seconds = 0;
    for (let n = 0, i = this.rawNext; n < this.rawCount; n++) {
      i = (i - 1 + this.rawT.length) % this.rawT.length;
      const t = this.rawT[i]!;
      if (t > now) continue;
      if (t <= start) break;
      const d = Math.min(this.rawD[i]!, t - start);
      weighted += this.rawV[i]! * d;
      seconds += d;
    }
    if (seconds > 0) {
      out.value[index] = weighted / seconds;
      out.coverage[index] = Math.min(seconds, span);
    }
  }

  /**
   * `max_avg_1h` / `max_avg_1d`: the largest of the 5-minute averages ending at each minute
   * boundary inside the window, and of the rolling 5-minute average ending now. One pass over the
   * day of buckets keeps a running 5-bucket sum.
   */
  private maxOfAverages(now: number, out: WindowValues): void {
    const current = bucketOf(now);
    let sumWeighted = 0;
    let sumSeconds = 0;
    let hourMax = out.value[WINDOW_INDEX.avg_5m]!;
    let dayMax = hourMax;
    let hourSeconds = 0;
    let daySeconds = 0;
    const first = current - DAY_S / STEP - PER_AVERAGE + 1;
    for (let id = first; id <= current; id++) {
      const slot = id % SLOTS;
      if (this.bucketId[slot] === id) {
        sumWeighted += this.bucketWeighted[slot]!;
        sumSeconds += this.bucketSeconds[slot]!;
      }
      const leaving = id - PER_AVERAGE;
      if (leaving >= first && this.bucketId[leaving % SLOTS] === leaving) {
        sumWeighted -= this.bucketWeighted[leaving % SLOTS]!;
        sumSeconds -= this.bucketSeconds[leaving % SLOTS]!;
      }
      const end = (id + 1) * STEP;
      if (end <= now - DAY_S) continue;
      if (this.bucketId[slot] === id) {
        daySeconds += this.bucketSeconds[slot]!;
        if (end > now - HOUR_S) hourSeconds += this.bucketSeconds[slot]!;
      }
      // Only averages that have ended count; the one in progress is avg_5m itself.
      if (end > now || sumSeconds <= 1e-9) continue;
      const average = sumWeighted / sumSeconds;
      if (!(average <= dayMax)) dayMax = average;
      if (end > now - HOUR_S && !(average <= hourMax)) hourMax = average;
    }
    if (!Number.isNaN(dayMax)) {
      out.value[WINDOW_INDEX.max_avg_1d] = dayMax;
      out.coverage[WINDOW_INDEX.max_avg_1d] = Math.min(daySeconds, DAY_S);
    }
    if (!Number.isNaN(hourMax)) {
      out.value[WINDOW_INDEX.max_avg_1h] = hourMax;
      out.coverage[WINDOW_INDEX.max_avg_1h] = Math.min(hourSeconds, HOUR_S);
    }
  }
}
