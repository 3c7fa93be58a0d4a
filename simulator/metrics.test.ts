import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BinnedCurve, pointAt, stats } from './metrics.ts';

describe('binned curve', () => {
  it('averages the events of each whole-percent bin', () => {
    const c = new BinnedCurve();
    c.record(99.6, 90, 10, 50, 1);
    c.record(100.4, 92, 12, 70, 2);
    c.record(101, 93, 13, 80, 3);
    const p = pointAt(c.points(101), 100)!;
    assert.equal(p.allocatedPct, 91);
    assert.equal(p.unallocatedPct, 9);
    assert.equal(p.fragRatePct, 60);
    assert.equal(p.failedTasks, 2);
  });

  it('an empty bin borrows its neighbours', () => {
    const c = new BinnedCurve();
    c.record(98, 90, 0, 0, 0);
    c.record(100, 94, 0, 0, 0);
    assert.equal(pointAt(c.points(100), 99)!.allocatedPct, 92);
  });

  it('mean and sample sd', () => {
    const s = stats([1, 2, 3, 4]);
    assert.equal(s.mean, 2.5);
    assert.ok(Math.abs(s.sd - 1.2909944) < 1e-6);
  });
});
