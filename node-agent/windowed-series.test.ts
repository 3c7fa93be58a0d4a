import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { WINDOW_SPAN_SECONDS, WINDOWS, type WindowName } from '../contracts/index.ts';
import { WINDOW_INDEX, WindowedSeries, WindowValues } from './windowed-series.ts';

interface Sample {
  t: number; // seconds
  v: number;
  d: number;
}

type Expected = Partial<Record<WindowName, { value: number; coverage: number }>>;

/**
 * The windows by their definition, over every sample ever added (no rings, no slots): what the
 * ring implementation must agree with.
 */
function reference(samples: Sample[], asOf: number): Expected {
  const out: Expected = {};
  const upTo = samples.filter((s) => s.t <= asOf);
  const last = upTo.at(-1);
  if (last) out.active = { value: last.v, coverage: last.d };
  for (const w of ['avg_1m', 'avg_5m'] as const) {
    const start = asOf - WINDOW_SPAN_SECONDS[w];
    let weighted = 0;
    let seconds = 0;
    for (const s of upTo) {
      if (s.t <= start) continue;
      const d = Math.min(s.d, s.t - start);
      weighted += s.v * d;
      seconds += d;
    }
    if (seconds > 0)
      out[w] = { value: weighted / seconds, coverage: Math.min(seconds, WINDOW_SPAN_SECONDS[w]) };
  }
  // One-minute buckets; a sample (t − d, t] belongs to the minute holding its end.
  const buckets = new Map<number, { weighted: number; seconds: number }>();
  for (const s of upTo) {
    const id = Math.ceil(s.t / 60) - 1;
    const b = buckets.get(id) ?? { weighted: 0, seconds: 0 };
    b.weighted += s.v * s.d;
    b.seconds += s.d;
    buckets.set(id, b);
  }
  const current = Math.ceil(asOf / 60) - 1;
  for (const w of ['max_avg_1h', 'max_avg_1d'] as const) {
    const start = asOf - WINDOW_SPAN_SECONDS[w];
    let best = out.avg_5m?.value ?? Number.NaN;
    let seconds = 0;
    for (const [id, b] of buckets) if ((id + 1) * 60 > start && id <= current) seconds += b.seconds;
    // Every 5-minute average that ended at a minute boundary inside the window.
    for (let id = current; (id + 1) * 60 > start; id--) {
      if ((id + 1) * 60 > asOf) continue;
      let weighted = 0;
      let secs = 0;
      for (let k = id - 4; k <= id; k++) {
        weighted += buckets.get(k)?.weighted ?? 0;
        secs += buckets.get(k)?.seconds ?? 0;
      }
      if (secs > 0 && !(weighted / secs <= best)) best = weighted / secs;
    }
    if (!Number.isNaN(best)) out[w] = { value: best, coverage: Math.min(seconds, WINDOW_SPAN_SECONDS[w]) };
  }
  return out;
}

function actual(series: WindowedSeries, asOf: number): Expected {
  const values = series.windows(asOf * 1000, new WindowValues());
  const out: Expected = {};
  for (const w of WINDOWS) {
    const v = values.value[WINDOW_INDEX[w]]!;
    if (!Number.isNaN(v)) out[w] = { value: v, coverage: values.coverage[WINDOW_INDEX[w]]! };
  }
  return out;
}

function assertClose(got: Expected, want: Expected, context: string): void {
  assert.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), `${context}: windows present`);
  for (const w of WINDOWS) {
    const g = got[w];
    const e = want[w];
    if (!g || !e) continue;
    assert.ok(Math.abs(g.value - e.value) < 1e-6, `${context}: ${w} value ${g.value} != ${e.value}`);
    assert.ok(
      Math.abs(g.coverage - e.coverage) < 1e-6,
      `${context}: ${w} coverage ${g.coverage} != ${e.coverage}`,
    );
  }
}

/** A deterministic pseudo-random sequence, so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

const T0 = 1_800_000_000; // seconds; an arbitrary epoch well after 1970

describe('WindowedSeries', () => {
  it('has no windows before the first sample (absent, never 0)', () => {
    const series = new WindowedSeries(10);
    assert.deepEqual(actual(series, T0), {});
  });

  it('agrees with the brute-force definition over two days of noisy samples with gaps', () => {
    const random = rng(7);
    const series = new WindowedSeries(10);
    const samples: Sample[] = [];
    let t = T0;
    const end = T0 + 2 * 86400;
    let checks = 0;
    while (t < end) {
      // Mostly regular 10 s ticks, sometimes jitter, sometimes a gap of up to 20 minutes.
      const r = random();
      const step = r < 0.002 ? 60 + random() * 1200 : r < 0.05 ? 10 + random() * 5 : 10;
      t += step;
      const sample = { t, v: random() < 0.01 ? 1 : random() * 0.6, d: Math.min(step, 10) };
      assert.equal(series.add(t * 1000, sample.v, sample.d), true);
      samples.push(sample);
      if (random() < 0.02) {
        checks++;
        assertClose(actual(series, t), reference(samples, t), `t=${t - T0}`);
      }
    }
    assert.ok(checks > 100, `only ${checks} checkpoints`);
  });

  describe('max of 5-minute averages over a day', () => {
    /**
     * 25 h of 0.2 every 10 s with a 5-minute spike of 0.9 starting `spikeHoursAgo` before the end.
     * The spike starts at :30 past a minute, so no clock-aligned 5-minute bucket holds all of it.
     */
    function dayWithSpike(spikeHoursAgo: number): { series: WindowedSeries; end: number } {
      const series = new WindowedSeries(10);
      const end = T0 + 25 * 3600 + 30;
      const spikeStart = end - spikeHoursAgo * 3600;
      for (let t = T0 + 10; t <= end; t += 10) {
        const inSpike = t > spikeStart && t <= spikeStart + 300;
        series.add(t * 1000, inSpike ? 0.9 : 0.2, 10);
      }
      return { series, end };
    }

    it('keeps a spike 23 h ago in max_avg_1d but not in max_avg_1h', () => {
      const { series, end } = dayWithSpike(23);
      const w = actual(series, end);
      // The best minute-aligned 5-minute average holds 4.5 minutes of the spike.
      assert.ok(w.max_avg_1d!.value >= (4.5 * 0.9 + 0.5 * 0.2) / 5 - 1e-9, `1d = ${w.max_avg_1d!.value}`);
      assert.ok(Math.abs(w.max_avg_1h!.value - 0.2) < 1e-9, `1h = ${w.max_avg_1h!.value}`);
    });

    it('forgets a spike 25 h ago in both', () => {
      const { series, end } = dayWithSpike(25);
      const w = actual(series, end);
      assert.ok(Math.abs(w.max_avg_1d!.value - 0.2) < 1e-9, `1d = ${w.max_avg_1d!.value}`);
      assert.ok(Math.abs(w.max_avg_1h!.value - 0.2) < 1e-9);
    });

    it('shows a spike that is happening now in every max window at once', () => {
      const { series, end } = dayWithSpike(0.05); // started 3 minutes ago
      const w = actual(series, end);
      assert.ok(w.max_avg_1h!.value > 0.6);
      assert.equal(w.max_avg_1h!.value, w.avg_5m!.value);
      assert.equal(w.max_avg_1d!.value, w.avg_5m!.value);
    });

    it('covers a full day once a day of data exists', () => {
      const { series, end } = dayWithSpike(3);
      const w = actual(series, end);
      assert.equal(w.max_avg_1d!.coverage, 86400);
      assert.equal(w.max_avg_1h!.coverage, 3600);
      assert.equal(w.avg_5m!.coverage, 300);
    });
  });

  it('reports coverage that grows with data and is honest about gaps', () => {
    const series = new WindowedSeries(10);
    let t = T0;
    const at = (n: number) => {
      for (let i = 0; i < n; i++) {
        t += 10;
        series.add(t * 1000, 0.5, 10);
      }
      return actual(series, t);
    };
    assert.equal(at(1).max_avg_1d!.coverage, 10);
    assert.equal(at(5).avg_1m!.coverage, 60);
    const afterTenMinutes = at(54);
    assert.equal(afterTenMinutes.avg_5m!.coverage, 300);
    assert.equal(afterTenMinutes.max_avg_1d!.coverage, 600);
    const afterTwoHours = at(660);
    assert.equal(afterTwoHours.max_avg_1h!.coverage, 3600);
    assert.equal(afterTwoHours.max_avg_1d!.coverage, 7200);
    // An hour with no samples: the short windows are empty, the day's coverage does not grow.
    t += 3600;
    const w = at(1);
    assert.equal(w.avg_5m!.coverage, 10);
    assert.equal(w.max_avg_1d!.coverage, 7210);
  });

  it('averages by time: a long interval weighs more than a short one', () => {
    const series = new WindowedSeries(10);
    series.add((T0 + 10) * 1000, 1, 10);
    series.add((T0 + 40) * 1000, 0, 30);
    const w = actual(series, T0 + 40);
    assert.equal(w.avg_1m!.value, 0.25);
  });

  it('drops samples that go back in time or are out of range', () => {
    const series = new WindowedSeries(10);
    assert.equal(series.add(T0 * 1000, 0.5, 10), true);
    assert.equal(series.add((T0 - 1) * 1000, 0.5, 10), false);
    assert.equal(series.add(T0 * 1000, 0.5, 10), false);
    assert.equal(series.add((T0 + 1) * 1000, Number.NaN, 10), false);
    assert.equal(series.add((T0 + 1) * 1000, 1.5, 10), false);
    assert.equal(series.add((T0 + 1) * 1000, 0.5, 0), false);
    assert.equal(actual(series, T0).active!.value, 0.5);
  });

  it('keeps five minutes of raw samples at a 1 s interval', () => {
    const series = new WindowedSeries(1);
    for (let t = T0 + 1; t <= T0 + 600; t++) series.add(t * 1000, t > T0 + 300 ? 1 : 0, 1);
    const w = actual(series, T0 + 600);
    assert.equal(w.avg_5m!.value, 1);
    assert.equal(w.avg_5m!.coverage, 300);
  });
});
