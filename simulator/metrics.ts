// The artifact's reading of a run: after every arrival, the arrived GPU demand (failed tasks
// included) as a percentage of capacity, rounded to a whole-percent bin; per bin, the mean of the
// allocated GPU %, the fragmentation amount and the fragmentation rate (fragment / idle GPU).
export interface CurvePoint {
  readonly arrivedPct: number;
  readonly allocatedPct: number;
  readonly unallocatedPct: number;
  /** Fragmented GPU, in GPUs. */
  readonly fragGpus: number;
  /** Fragmented share of the idle GPU, %. */
  readonly fragRatePct: number;
  /** Failed tasks so far, at the bin's last arrival. */
  readonly failedTasks: number;
}

export class BinnedCurve {
  private readonly alloc: number[] = [];
  private readonly frag: number[] = [];
  private readonly rate: number[] = [];
  private readonly count: number[] = [];
  private readonly failed: number[] = [];

  record(
    arrivedPct: number,
    allocatedPct: number,
    fragGpus: number,
    fragRatePct: number,
    failedTasks: number,
  ): void {
    const bin = Math.round(arrivedPct);
    while (this.count.length <= bin) {
      this.alloc.push(0);
      this.frag.push(0);
      this.rate.push(0);
      this.count.push(0);
      this.failed.push(0);
    }
    this.alloc[bin]! += allocatedPct;
    this.frag[bin]! += fragGpus;
    this.rate[bin]! += fragRatePct;
    this.count[bin]! += 1;
    this.failed[bin] = failedTasks;
  }

  /**
   * The mean of each bin; an empty bin borrows the events of its neighbours (±1), as the
   * artifact's analysis does; with none there either (tasks larger than 1% of the cluster), the
   * cluster is as the last arrival below the bin left it.
   */
  points(maxBin: number): CurvePoint[] {
    const out: CurvePoint[] = [];
    let failedSoFar = 0;
    for (let b = 0; b <= maxBin; b++) {
      const lo = this.n(b) > 0 ? b : b - 1;
      const hi = this.n(b) > 0 ? b : b + 1;
      let c = 0;
      let a = 0;
      let f = 0;
      let r = 0;
      for (let i = Math.max(lo, 0); i <= hi; i++) {
        c += this.n(i);
        a += this.alloc[i] ?? 0;
        f += this.frag[i] ?? 0;
        r += this.rate[i] ?? 0;
      }
      if (this.n(b) > 0) failedSoFar = this.failed[b]!;
      if (c === 0) {
        const last = out[out.length - 1];
        if (last) out.push({ ...last, arrivedPct: b });
        continue;
      }
      out.push({
        arrivedPct: b,
        allocatedPct: a / c,
        unallocatedPct: 100 - a / c,
        fragGpus: f / c,
        fragRatePct: r / c,
        failedTasks: failedSoFar,
      });
    }
    return out;
  }

  private n(bin: number): number {
    return this.count[bin] ?? 0;
  }
}

export function pointAt(points: readonly CurvePoint[], bin: number): CurvePoint | undefined {
  return points.find((p) => p.arrivedPct === bin);
}

export interface Stats {
  readonly mean: number;
  readonly sd: number;
  readonly n: number;
}

/** Mean and sample standard deviation. */
export function stats(values: readonly number[]): Stats {
  const n = values.length;
  if (n === 0) return { mean: NaN, sd: NaN, n };
  const mean = values.reduce((s, v) => s + v, 0) / n;
  const sd = n > 1 ? Math.sqrt(values.reduce((s, v) => s + (v - mean) ** 2, 0) / (n - 1)) : 0;
  return { mean, sd, n };
}
