import assert from 'node:assert/strict';
import { after, beforeEach, describe, it } from 'node:test';
import { ManualClock } from '../common/clock.ts';
import { FakeProc } from '../doubles/fake-proc.ts';
import { NodeSampler, type SampleFailure } from './sampler.ts';
import { readFigures } from './statistics.ts';

const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);

describe('NodeSampler on a /proc tree', () => {
  const procs: FakeProc[] = [];
  let proc: FakeProc;
  let clock: ManualClock;
  let failures: SampleFailure[];
  let sampler: NodeSampler;

  beforeEach(() => {
    proc = new FakeProc();
    procs.push(proc);
    clock = new ManualClock(T0);
    failures = [];
    sampler = new NodeSampler({
      procPath: proc.dir,
      sampleIntervalMs: 10_000,
      clock,
      onFailure: (f) => failures.push(f),
    });
  });
  after(() => {
    for (const p of procs) p.cleanup();
  });

  const figures = () => readFigures(sampler.series, sampler.lastGoodSampleMs!).values;
  function tick(total: number, busy: number): boolean {
    clock.advance(10_000);
    proc.runFor(total, busy);
    return sampler.sampleOnce();
  }

  it('has memory after the first sample and CPU after the second', () => {
    proc.setMemory(1000, 250);
    assert.equal(sampler.sampleOnce(), true);
    assert.equal(figures().mem_usage_active, 0.75);
    assert.equal(figures().cpu_usage_active, undefined);
    assert.equal(tick(2000, 500), true);
    assert.equal(figures().cpu_usage_active, 0.25);
    assert.deepEqual(failures, []);
  });

  it('reads a saturated interval as 1.0', () => {
    sampler.sampleOnce();
    tick(2000, 2000);
    assert.equal(figures().cpu_usage_active, 1);
  });

  it('discards the interval after a counter reset, keeps the last good figure, then recovers', () => {
    sampler.sampleOnce();
    tick(1000, 400);
    proc.setTicks({ user: 5, system: 5, idle: 50, iowait: 0 }); // reboot
    clock.advance(10_000);
    sampler.sampleOnce();
    assert.deepEqual(
      failures.map((f) => [f.source, f.reason]),
      [['stat', 'counter_reset']],
    );
    assert.equal(figures().cpu_usage_active, 0.4);
    tick(1000, 900);
    assert.equal(figures().cpu_usage_active, 0.9);
  });

  it('counts an unreadable, truncated or garbled file and serves the last good figures', () => {
    sampler.sampleOnce();
    tick(1000, 300);
    const good = figures();

    clock.advance(10_000);
    proc.remove('stat');
    proc.write('meminfo', 'MemTotal:  1000 kB\nMemAvai');
    assert.equal(sampler.sampleOnce(), false);
    clock.advance(10_000);
    proc.write('stat', 'cpu  1 2 3');
    proc.write('meminfo', '\u0000\u0001garbage\n');
    assert.equal(sampler.sampleOnce(), false);
    assert.deepEqual(
      failures.map((f) => `${f.source}:${f.reason}`),
      ['stat:unreadable', 'meminfo:truncated', 'stat:truncated', 'meminfo:malformed'],
    );
    assert.match(failures[0]!.detail, /stat: ENOENT/);
    assert.deepEqual(figures(), good);

    // Recovery: the counters moved on while we could not read them; the busy fraction covers the gap exactly.
    proc.writeStat();
    proc.setMemory(1000, 500);
    tick(3000, 1500);
    assert.equal(figures().cpu_usage_active, 0.5);
    assert.equal(figures().mem_usage_active, 0.5);
  });

  it('estimates memory on a kernel without MemAvailable', () => {
    proc.write('meminfo', 'MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 100 kB\nCached: 200 kB\n');
    sampler.sampleOnce();
    assert.equal(figures().mem_usage_active, 0.6);
    assert.equal(sampler.memoryEstimated, true);
  });

  it('builds honest windows: five minutes at 30 % then one at 90 %', () => {
    sampler.sampleOnce();
    for (let i = 0; i < 30; i++) tick(1000, 300);
    for (let i = 0; i < 6; i++) tick(1000, 900);
    const f = figures();
    assert.equal(f.cpu_usage_avg_1m, 0.9);
    assert.ok(Math.abs(f.cpu_usage_avg_5m! - (24 * 0.3 + 6 * 0.9) / 30) < 1e-9);
    assert.ok(f.cpu_usage_max_avg_1h! >= f.cpu_usage_avg_5m!);
  });
});
