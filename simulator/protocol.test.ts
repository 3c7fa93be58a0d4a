import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { totalGpuMilli } from '../scheduler/core/placement/task.ts';
import { arrivals } from './protocol.ts';
import { Rng } from './rng.ts';
import { parseSeeds } from './seeds.ts';
import { type TraceTask } from './trace/openb.ts';

const task = (name: string, gpuMilli: number): TraceTask => ({
  name,
  cpuMilli: 1000,
  memoryMib: 1,
  gpuCount: gpuMilli > 0 ? 1 : 0,
  gpuMilli,
  gpuModels: [],
});
const trace = [task('a', 500), task('b', 1000), task('c', 0), task('d', 250)];
const demand = (ts: readonly TraceTask[]) => ts.reduce((s, t) => s + totalGpuMilli(t), 0);

describe('arrival protocol', () => {
  it('shuffles the trace, then appends samples up to 130% of capacity', () => {
    const q = arrivals(trace, 4000, new Rng(42));
    assert.deepEqual(new Set(q.slice(0, 4).map((t) => t.name)), new Set(['a', 'b', 'c', 'd']));
    assert.ok(demand(q) <= 1.3 * 4000);
    assert.ok(demand(q) > 1.3 * 4000 - 1000);
  });

  it('trims a trace that exceeds the target', () => {
    const q = arrivals(trace, 1000, new Rng(1));
    assert.ok(demand(q) <= 1300);
    assert.ok(q.length < trace.length);
  });

  it('is the same for the same seed and differs across seeds', () => {
    const names = (s: number) =>
      arrivals(trace, 10_000, new Rng(s))
        .map((t) => t.name)
        .join('');
    assert.equal(names(42), names(42));
    assert.notEqual(names(42), names(43));
  });

  it('draws integers uniformly enough', () => {
    const rng = new Rng(5);
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 40_000; i++) counts[rng.int(4)]!++;
    for (const c of counts) assert.ok(Math.abs(c - 10_000) < 500, String(counts));
  });
});

describe('seeds', () => {
  it('takes N, N..M and lists', () => {
    assert.deepEqual(parseSeeds('42..45'), [42, 43, 44, 45]);
    assert.deepEqual(parseSeeds('1,3'), [1, 3]);
    assert.throws(() => parseSeeds('5..1'), /backwards/);
    assert.throws(() => parseSeeds('x'), /bad seed/);
  });
});
