import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { encodeCount, encodeFraction } from '../contracts/annotations.ts';
import { CRANE_HOT_VALUE_VALIDITY_MS, decodeCraneCount, decodeCraneFraction } from '../contracts/crane.ts';
import type { FigureName } from '../contracts/figures.ts';
import { encodeGpuInventory, GPU_INVENTORY_ANNOTATION } from '../contracts/gpu-inventory.ts';
import { type PlanOptions, planNodePatch } from './plan.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);
const options: PlanOptions = {
  minChange: 0.02,
  craneCompat: false,
  validityMs: new Map<FigureName, number>([
    ['cpu_usage_avg_5m', 10 * MIN],
    ['mem_usage_avg_5m', 10 * MIN],
    ['cpu_usage_max_avg_1d', 185 * MIN],
  ]),
  hotValueValidityMs: 10 * MIN,
};

describe('planNodePatch', () => {
  test('a node without figures gets every policy figure the agent reported, in one patch', () => {
    const plan = planNodePatch(
      {
        annotations: { unrelated: 'x' },
        stats: {
          figures: { cpu_usage_avg_5m: 0.35, cpu_usage_active: 0.9, mem_usage_avg_5m: 0.5 },
          measuredAtMs: T0,
        },
        nowMs: T0,
      },
      options,
    );
    assert.deepEqual(plan?.annotations, {
      'loadwise.io/cpu_usage_avg_5m': '0.35000,2026-11-22T06:00:00Z',
      'loadwise.io/mem_usage_avg_5m': '0.50000,2026-11-22T06:00:00Z',
    });
    assert.deepEqual(plan?.reasons, ['missing']);
    assert.equal(plan?.deferrable, false);
  });

  test('a small move within half the validity writes nothing; a move of min-change writes all figures', () => {
    const annotations = {
      'loadwise.io/cpu_usage_avg_5m': encodeFraction(0.35, T0),
      'loadwise.io/mem_usage_avg_5m': encodeFraction(0.5, T0),
    };
    const later = T0 + 2 * MIN;
    const small = planNodePatch(
      {
        annotations,
        stats: { figures: { cpu_usage_avg_5m: 0.369, mem_usage_avg_5m: 0.49 }, measuredAtMs: later },
        nowMs: later,
      },
      options,
    );
    assert.equal(small, undefined);
    const moved = planNodePatch(
      {
        annotations,
        stats: { figures: { cpu_usage_avg_5m: 0.37, mem_usage_avg_5m: 0.49 }, measuredAtMs: later },
        nowMs: later,
      },
      options,
    );
    assert.deepEqual(moved?.reasons, ['moved']);
    assert.deepEqual(Object.keys(moved?.annotations ?? {}).sort(), [
      'loadwise.io/cpu_usage_avg_5m',
      'loadwise.io/mem_usage_avg_5m',
    ]);
  });

  test('a figure older than half its validity is refreshed; a stale measurement never moves a timestamp back', () => {
    const annotations = { 'loadwise.io/cpu_usage_avg_5m': encodeFraction(0.35, T0) };
    const at = (ms: number) =>
      planNodePatch(
        { annotations, stats: { figures: { cpu_usage_avg_5m: 0.35 }, measuredAtMs: ms }, nowMs: ms },
        options,
      );
    assert.equal(at(T0 + 5 * MIN), undefined, 'exactly half is not yet due');
    assert.deepEqual(at(T0 + 5 * MIN + 1000)?.reasons, ['expiring']);
    assert.equal(at(T0 + 5 * MIN + 1000)?.deferrable, true, 'a refresh may wait a little');
    assert.equal(at(T0 + 5 * MIN + 1000)?.oldestWrittenMs, T0);
    assert.equal(at(T0 + 7 * MIN + 31_000)?.deferrable, false, 'but not past three quarters of the validity');
    const stuck = planNodePatch(
      { annotations, stats: { figures: { cpu_usage_avg_5m: 0.9 }, measuredAtMs: T0 }, nowMs: T0 + 9 * MIN },
      options,
    );
    assert.equal(stuck, undefined, 'the same measurement again is not news');
  });

  test('a figure the agent does not report is left alone', () => {
    const annotations = { 'loadwise.io/mem_usage_avg_5m': encodeFraction(0.5, T0) };
    const plan = planNodePatch(
      { annotations, stats: { figures: { cpu_usage_avg_5m: 0.1 }, measuredAtMs: T0 + MIN }, nowMs: T0 + MIN },
      options,
    );
    assert.deepEqual(Object.keys(plan?.annotations ?? {}), ['loadwise.io/cpu_usage_avg_5m']);
  });

  test('the hot value is written when it changes or nears expiry, and rides along on every patch', () => {
    const annotations = {
      'loadwise.io/cpu_usage_avg_5m': encodeFraction(0.35, T0),
      'loadwise.io/node_hot_value': encodeCount(2, T0),
    };
    const steady = { annotations, hotValue: 2, nowMs: T0 + MIN };
    assert.equal(planNodePatch(steady, options), undefined);
    const changed = planNodePatch({ ...steady, hotValue: 3 }, options);
    assert.deepEqual(changed?.annotations, { 'loadwise.io/node_hot_value': '3,2026-11-22T06:01:00Z' });
    assert.deepEqual(changed?.reasons, ['hot_value']);
    assert.deepEqual(planNodePatch({ ...steady, nowMs: T0 + 6 * MIN }, options)?.reasons, ['expiring']);
    const withFigure = planNodePatch(
      { ...steady, stats: { figures: { cpu_usage_avg_5m: 0.6 }, measuredAtMs: T0 + MIN } },
      options,
    );
    assert.equal(withFigure?.annotations['loadwise.io/node_hot_value'], '2,2026-11-22T06:01:00Z');
  });

  test("crane compatibility writes the bare keys too, in crane's format and zone, and fills them in when turned on later", () => {
    const compat = { ...options, craneCompat: true };
    const plan = planNodePatch(
      {
        annotations: {},
        stats: { figures: { cpu_usage_avg_5m: 0.35 }, measuredAtMs: T0 },
        hotValue: 0,
        nowMs: T0,
      },
      compat,
    );
    assert.deepEqual(plan?.annotations, {
      'loadwise.io/cpu_usage_avg_5m': '0.35000,2026-11-22T06:00:00Z',
      // crane's time: Asia/Shanghai wall time (crane's default zone) with a literal Z.
      cpu_usage_avg_5m: '0.35000,2026-11-22T14:00:00Z',
      'loadwise.io/node_hot_value': '0,2026-11-22T06:00:00Z',
      node_hot_value: '0,2026-11-22T14:00:00Z',
    });
    const onlyOurs = { 'loadwise.io/cpu_usage_avg_5m': encodeFraction(0.35, T0) };
    const later = T0 + MIN;
    const filled = planNodePatch(
      {
        annotations: onlyOurs,
        stats: { figures: { cpu_usage_avg_5m: 0.35 }, measuredAtMs: later },
        nowMs: later,
      },
      compat,
    );
    assert.deepEqual(filled?.reasons, ['compat']);
  });

  test('crane compatibility rewrites bare keys an older loadwise wrote in UTC, and honours --crane-timezone', () => {
    const compat = { ...options, craneCompat: true, craneTimeZone: 'Europe/Berlin' };
    const stamp = encodeFraction(0.35, T0);
    const utcMirror = { 'loadwise.io/cpu_usage_avg_5m': stamp, cpu_usage_avg_5m: stamp };
    const later = T0 + MIN;
    const plan = planNodePatch(
      {
        annotations: utcMirror,
        stats: { figures: { cpu_usage_avg_5m: 0.35 }, measuredAtMs: later },
        nowMs: later,
      },
      compat,
    );
    assert.deepEqual(plan?.reasons, ['compat']);
    assert.equal(plan?.annotations.cpu_usage_avg_5m, '0.35000,2026-11-22T07:01:00Z');
    // Once crane's key mirrors ours in crane's zone, nothing is due.
    const mirrored = {
      'loadwise.io/cpu_usage_avg_5m': stamp,
      cpu_usage_avg_5m: '0.35000,2026-11-22T07:00:00Z',
    };
    assert.equal(
      planNodePatch(
        {
          annotations: mirrored,
          stats: { figures: { cpu_usage_avg_5m: 0.35 }, measuredAtMs: later },
          nowMs: later,
        },
        compat,
      ),
      undefined,
    );
  });

  test("crane compatibility refreshes the hot value within crane's five-minute validity", () => {
    const long = { ...options, hotValueValidityMs: 20 * MIN };
    const steady = {
      annotations: { 'loadwise.io/node_hot_value': encodeCount(1, T0) },
      hotValue: 1,
      nowMs: T0 + 3 * MIN,
    };
    // loadwise alone waits until half of its own validity (10 min); crane would read 0 after 5.
    assert.equal(planNodePatch(steady, long), undefined);
    assert.deepEqual(planNodePatch(steady, { ...long, craneCompat: true })?.reasons, ['expiring']);
  });

  test('economy: an hour of steady load with noise, synced every 30 s, costs at most 12 patches', () => {
    let annotations: Record<string, string> = {};
    let patches = 0;
    let seed = 42;
    const noise = () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return (seed / 2 ** 31 - 0.5) * 0.018; // ±0.009: any two samples differ by less than min-change
    };
    for (let t = T0; t < T0 + 60 * MIN; t += 30_000) {
      const figures = {
        cpu_usage_avg_5m: 0.4 + noise(),
        mem_usage_avg_5m: 0.6 + noise(),
        cpu_usage_max_avg_1d: 0.7,
      };
      const plan = planNodePatch(
        { annotations, stats: { figures, measuredAtMs: t - 1000 }, hotValue: 0, nowMs: t },
        options,
      );
      if (plan) {
        patches++;
        annotations = { ...annotations, ...plan.annotations };
      }
    }
    assert.ok(patches <= 12, `${patches} patches in an hour`);
    assert.ok(patches >= 10, `figures must still be refreshed before they expire (${patches})`);
  });

  test('GPU labels are written when they change, removed with the GPUs, left alone without a reading', () => {
    const gpuLabels = { 'loadwise.io/gpu-model': 'NVIDIA-A100-SXM4-80GB', 'loadwise.io/gpu-count': '8' };
    const first = planNodePatch({ annotations: {}, labels: { other: 'x' }, gpuLabels, nowMs: T0 }, options);
    assert.deepEqual(first?.labels, gpuLabels);
    assert.deepEqual(first?.reasons, ['labels']);
    const written = { other: 'x', ...gpuLabels };
    assert.equal(
      planNodePatch({ annotations: {}, labels: written, gpuLabels, nowMs: T0 + MIN }, options),
      undefined,
    );
    assert.deepEqual(
      planNodePatch({ annotations: {}, labels: written, gpuLabels: {}, nowMs: T0 }, options)?.labels,
      {
        'loadwise.io/gpu-model': null,
        'loadwise.io/gpu-count': null,
      },
    );
    assert.equal(planNodePatch({ annotations: {}, labels: written, nowMs: T0 }, options), undefined);
  });

  test("steady state with --crane-compat: for an hour crane's own reader finds every bare key fresh", () => {
    // crane's plugin reads the bare keys in its zone: a figure is valid for its period + 5 min
    // (options.validityMs holds exactly that), node_hot_value for 5 min.
    const zone = 'Asia/Shanghai';
    const compat = { ...options, craneCompat: true, craneTimeZone: zone };
    let annotations: Record<string, string> = {};
    let patches = 0;
    for (let t = T0; t <= T0 + 60 * MIN; t += 30_000) {
      const plan = planNodePatch(
        {
          annotations,
          stats: {
            figures: { cpu_usage_avg_5m: 0.4, mem_usage_avg_5m: 0.6, cpu_usage_max_avg_1d: 0.7 },
            measuredAtMs: t - 1000,
          },
          hotValue: 1,
          nowMs: t,
        },
        compat,
      );
      if (plan) {
        patches++;
        annotations = { ...annotations, ...plan.annotations };
      }
      for (const [figure, validityMs] of compat.validityMs) {
        const read = decodeCraneFraction(annotations[figure] ?? '', zone);
        assert.ok(
          read.ok && read.annotation.timestampMs + validityMs > t,
          `${figure} stale for crane at +${(t - T0) / MIN} min`,
        );
      }
      const hot = decodeCraneCount(annotations.node_hot_value ?? '', zone);
      assert.ok(
        hot.ok && hot.annotation.value === 1 && hot.annotation.timestampMs + CRANE_HOT_VALUE_VALIDITY_MS > t,
        `node_hot_value stale for crane at +${(t - T0) / MIN} min`,
      );
    }
    // Refreshing within crane's five minutes costs more than loadwise alone (≤ 12), still far below crane's annotator.
    assert.ok(patches <= 24, `${patches} patches in an hour`); // measured: 21 (13 without --crane-compat)
  });

  test('the GPU inventory is written when it changes, and costs no PATCH of its own otherwise', () => {
    const inventory = encodeGpuInventory({
      gpus: [
        { index: 0, uuid: 'GPU-1', model: 'A100', memoryMiB: 81920, mig: false, healthy: true, links: ['X'] },
      ],
    });
    const annotations = { 'loadwise.io/cpu_usage_avg_5m': encodeFraction(0.35, T0) };
    const first = planNodePatch({ annotations, inventory, nowMs: T0 + MIN }, options);
    assert.deepEqual(first?.annotations, { [GPU_INVENTORY_ANNOTATION]: inventory });
    assert.deepEqual(first?.reasons, ['inventory']);
    const written = { ...annotations, [GPU_INVENTORY_ANNOTATION]: inventory };
    assert.equal(planNodePatch({ annotations: written, inventory, nowMs: T0 + MIN }, options), undefined);
    const lost = inventory.replace('"l":', '"bad":1,"l":');
    assert.deepEqual(
      planNodePatch({ annotations: written, inventory: lost, nowMs: T0 + MIN }, options)?.reasons,
      ['inventory'],
    );
  });

  test('a timestamp from beyond the future skew is overwritten at once, not kept as newer', () => {
    // Written by something that trusted a node clock a day fast (or forged): 0.00 "as of" tomorrow.
    const tomorrow = T0 + 24 * 60 * MIN;
    const annotations = {
      'loadwise.io/cpu_usage_avg_5m': encodeFraction(0, tomorrow),
      'loadwise.io/mem_usage_avg_5m': encodeFraction(0.5, T0),
      'loadwise.io/node_hot_value': encodeCount(0, tomorrow),
    };
    const plan = planNodePatch(
      {
        annotations,
        stats: { figures: { cpu_usage_avg_5m: 0.7, mem_usage_avg_5m: 0.5 }, measuredAtMs: T0 },
        hotValue: 0,
        nowMs: T0,
      },
      options,
    );
    assert.equal(plan?.annotations['loadwise.io/cpu_usage_avg_5m'], encodeFraction(0.7, T0));
    assert.equal(plan?.annotations['loadwise.io/node_hot_value'], encodeCount(0, T0));
    assert.deepEqual(plan?.reasons, ['future']);
    assert.equal(plan?.deferrable, false, 'not a refresh that may wait');
    // Within the skew (the writer's clock a few seconds ahead), the usual rule holds: nothing to do.
    const close = { 'loadwise.io/cpu_usage_avg_5m': encodeFraction(0.7, T0 + 20_000) };
    const stats = { figures: { cpu_usage_avg_5m: 0.7 }, measuredAtMs: T0 };
    assert.equal(planNodePatch({ annotations: close, stats, nowMs: T0 }, options), undefined);
    const strict = { ...options, futureSkewMs: 10_000 };
    assert.deepEqual(planNodePatch({ annotations: close, stats, nowMs: T0 }, strict)?.reasons, ['future']);
  });
});
