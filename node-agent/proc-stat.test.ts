import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { CPU_FIELDS, CpuUsage, parseCpuLine } from './proc-stat.ts';

const fixture = (name: string) => readFileSync(new URL(`fixtures/proc/${name}`, import.meta.url));

function parse(text: string | Buffer): { outcome: string; fields: number[] } {
  const buf = typeof text === 'string' ? Buffer.from(text) : text;
  const out = new Float64Array(CPU_FIELDS.length);
  const outcome = parseCpuLine(buf, buf.length, out);
  return { outcome, fields: [...out] };
}

/** Busy fraction between two cpu lines of the given columns. */
function busyBetween(a: number[], b: number[]): { outcome: string; busy: number } {
  const usage = new CpuUsage();
  const fa = new Float64Array(CPU_FIELDS.length);
  const fb = new Float64Array(CPU_FIELDS.length);
  fa.set(a);
  fb.set(b);
  assert.equal(usage.update(fa), 'first');
  const outcome = usage.update(fb);
  return { outcome, busy: usage.busy };
}

describe('/proc/stat cpu line', () => {
  it('reads a real 6.x kernel file, ignoring per-CPU and other lines', () => {
    const { outcome, fields } = parse(fixture('stat-linux-6.18'));
    assert.equal(outcome, 'ok');
    const first = fixture('stat-linux-6.18').toString().split('\n')[0]!.split(/\s+/).slice(1).map(Number);
    assert.deepEqual(fields, first);
  });

  it('reads an old kernel with only seven columns; the missing ones are 0', () => {
    const { outcome, fields } = parse(fixture('stat-linux-2.6.18'));
    assert.equal(outcome, 'ok');
    assert.deepEqual(fields, [2255, 34, 2290, 22625563, 6290, 127, 456, 0, 0, 0]);
  });

  it('ignores columns a future kernel might append', () => {
    const { outcome, fields } = parse('cpu  1 2 3 4 5 6 7 8 9 10 11 12\n');
    assert.equal(outcome, 'ok');
    assert.deepEqual(fields, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  });

  it('calls a file cut off mid-line truncated', () => {
    assert.equal(parse(fixture('stat-truncated')).outcome, 'truncated');
    assert.equal(parse('').outcome, 'truncated');
    assert.equal(parse('cpu  1 2 3 4').outcome, 'truncated');
  });

  it('calls garbage malformed', () => {
    for (const bad of [
      'cpu0 1 2 3 4\n',
      'intr 1\ncpu  1 2 3 4\n',
      'cpu  1 2 x 4\n',
      'cpu  1 2 3\n',
      'cpu  1 -2 3 4\n',
      'cpu  1.5 2 3 4\n',
      '\0\0\0\0\0',
    ]) {
      assert.equal(parse(bad).outcome, 'malformed', JSON.stringify(bad));
    }
    assert.equal(parse(`cpu  ${'9'.repeat(40)} 1 1 1\n`).outcome, 'malformed');
  });
});

describe('CPU busy fraction', () => {
  // user nice system idle iowait irq softirq steal guest guest_nice
  it('is 1 − Δ(idle+iowait)/Δtotal', () => {
    const r = busyBetween([100, 0, 100, 800, 0, 0, 0, 0, 0, 0], [130, 0, 120, 850, 0, 0, 0, 0, 0, 0]);
    assert.equal(r.outcome, 'ok');
    assert.equal(r.busy, 0.5);
  });

  it('counts iowait as idle', () => {
    const r = busyBetween([0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [10, 0, 0, 60, 30, 0, 0, 0, 0, 0]);
    assert.equal(r.busy, 0.1);
  });

  it('is exactly 1.0 for a saturated interval (no idle at all)', () => {
    const r = busyBetween([100, 5, 50, 1000, 10, 1, 2, 0, 0, 0], [180, 5, 70, 1000, 10, 1, 2, 0, 0, 0]);
    assert.equal(r.outcome, 'ok');
    assert.equal(r.busy, 1);
  });

  it('counts steal once, as time the node could not use', () => {
    const r = busyBetween([0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [20, 0, 0, 50, 0, 0, 0, 30, 0, 0]);
    assert.equal(r.busy, 0.5);
  });

  it('does not count guest time twice (it is already inside user and nice)', () => {
    // 40 user ticks of which 30 ran a guest, 10 nice of which 10 were guest_nice, 50 idle.
    const r = busyBetween([0, 0, 0, 0, 0, 0, 0, 0, 0, 0], [40, 10, 0, 50, 0, 0, 0, 0, 30, 10]);
    assert.equal(r.busy, 0.5);
  });

  it('discards an interval whose counters went backwards (reboot, wrap)', () => {
    assert.equal(
      busyBetween([500, 0, 500, 5000, 0, 0, 0, 0, 0, 0], [10, 0, 10, 100, 0, 0, 0, 0, 0, 0]).outcome,
      'counter_reset',
    );
    // Idle going back while total grows is a reset too.
    assert.equal(
      busyBetween([0, 0, 0, 1000, 0, 0, 0, 0, 0, 0], [2000, 0, 0, 900, 0, 0, 0, 0, 0, 0]).outcome,
      'counter_reset',
    );
  });

  it('tolerates iowait going back alone, as tickless kernels do', () => {
    const r = busyBetween([0, 0, 0, 100, 50, 0, 0, 0, 0, 0], [10, 0, 0, 200, 40, 0, 0, 0, 0, 0]);
    assert.equal(r.outcome, 'ok');
    assert.equal(r.busy, 0.1);
  });

  it('discards an interval in which no time passed', () => {
    const same = [1, 2, 3, 4, 5, 6, 7, 8, 0, 0];
    assert.equal(busyBetween(same, same).outcome, 'no_progress');
  });

  it('starts again after a reset, from the new counters', () => {
    const usage = new CpuUsage();
    const f = (cols: number[]) => Float64Array.from(cols);
    usage.update(f([500, 0, 500, 5000, 0, 0, 0, 0, 0, 0]));
    assert.equal(usage.update(f([10, 0, 0, 90, 0, 0, 0, 0, 0, 0])), 'counter_reset');
    assert.equal(usage.update(f([40, 0, 0, 160, 0, 0, 0, 0, 0, 0])), 'ok');
    assert.equal(usage.busy, 0.3);
  });
});
