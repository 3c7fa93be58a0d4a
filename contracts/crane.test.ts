import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  CRANE_DEFAULT_TIME_ZONE,
  craneTimeZone,
  decodeCraneCount,
  decodeCraneFraction,
  encodeCraneCount,
  encodeCraneFraction,
  formatCraneTime,
  isTimeZone,
  parseCraneTime,
} from './crane.ts';

// 2026-11-22 06:07:12 UTC is 14:07:12 in Shanghai (UTC+8, no DST).
const T = Date.UTC(2026, 10, 22, 6, 7, 12);

describe("crane-scheduler's annotation time", () => {
  it('takes TZ, then Asia/Shanghai, as crane does', () => {
    assert.equal(craneTimeZone({}), CRANE_DEFAULT_TIME_ZONE);
    assert.equal(craneTimeZone({ TZ: '' }), 'Asia/Shanghai');
    assert.equal(craneTimeZone({ TZ: 'Europe/Berlin' }), 'Europe/Berlin');
  });

  it('writes local wall time with a literal Z (Go layout 2006-01-02T15:04:05Z in the zone)', () => {
    // What crane's annotator writes at that instant with TZ unset: "...14:07:12Z", not "...06:07:12Z".
    assert.equal(formatCraneTime(T, 'Asia/Shanghai'), '2026-11-22T14:07:12Z');
    assert.equal(formatCraneTime(T + 999, 'UTC'), '2026-11-22T06:07:12Z');
    assert.equal(formatCraneTime(T, 'America/New_York'), '2026-11-22T01:07:12Z');
    // Across midnight and a month end in the zone.
    assert.equal(formatCraneTime(Date.UTC(2026, 10, 30, 20, 0, 0), 'Asia/Shanghai'), '2026-12-01T04:00:00Z');
  });

  it('reads it back in the same zone (time.ParseInLocation), so a fresh figure is fresh', () => {
    assert.equal(parseCraneTime('2026-11-22T14:07:12Z', 'Asia/Shanghai'), T);
    assert.equal(parseCraneTime('2026-11-22T06:07:12Z', 'UTC'), T);
    // Read in the wrong zone the same text is 8 hours off: the bug this module exists for.
    assert.equal(parseCraneTime('2026-11-22T14:07:12Z', 'UTC'), T + 8 * 3600_000);
  });

  it('round-trips through a daylight-saving zone on both sides of the change', () => {
    for (const at of [
      Date.UTC(2026, 2, 8, 6, 0, 0),
      Date.UTC(2026, 2, 8, 8, 0, 0),
      Date.UTC(2026, 6, 1, 12, 0, 0),
    ]) {
      const text = formatCraneTime(at, 'America/New_York');
      assert.equal(parseCraneTime(text, 'America/New_York'), at, text);
    }
  });

  it('refuses what is not crane layout or no real date', () => {
    for (const bad of [
      '2026-11-22T14:07:12+08:00',
      '2026-11-22T14:07:12.5Z',
      '2026-11-22 14:07:12Z',
      '2026-02-30T00:00:00Z',
      '2026-11-22T24:00:00Z',
      '',
    ]) {
      assert.equal(parseCraneTime(bad, 'Asia/Shanghai'), undefined, bad);
    }
  });

  it('knows real zones and names a bad one', () => {
    assert.equal(isTimeZone('Asia/Shanghai'), true);
    assert.equal(isTimeZone('UTC'), true);
    assert.equal(isTimeZone('Mars/Olympus'), false);
    assert.throws(() => formatCraneTime(T, 'Mars/Olympus'), /"Mars\/Olympus" is not a time zone/);
  });
});

describe("crane-scheduler's annotation values", () => {
  it("writes figures as crane's annotator does: %.5f of the fraction, then crane's time", () => {
    assert.equal(encodeCraneFraction(0.068, T, 'Asia/Shanghai'), '0.06800,2026-11-22T14:07:12Z');
    assert.equal(encodeCraneCount(3, T, 'Asia/Shanghai'), '3,2026-11-22T14:07:12Z');
    assert.throws(() => encodeCraneFraction(1.2, T, 'UTC'), RangeError);
    assert.throws(() => encodeCraneCount(-1, T, 'UTC'), RangeError);
  });

  it('decodes what crane writes (fixture from a node annotated by crane-scheduler 0.2)', () => {
    const annotations = {
      cpu_usage_avg_5m: '0.06800,2026-11-22T14:07:12Z',
      mem_usage_max_avg_1d: '0.41234,2026-11-22T14:05:00Z',
      node_hot_value: '2,2026-11-22T14:07:12Z',
    };
    assert.deepEqual(decodeCraneFraction(annotations.cpu_usage_avg_5m, 'Asia/Shanghai'), {
      ok: true,
      annotation: { value: 0.068, timestampMs: T },
    });
    const mem = decodeCraneFraction(annotations.mem_usage_max_avg_1d, 'Asia/Shanghai');
    assert.ok(mem.ok && mem.annotation.timestampMs === T - 132_000);
    assert.deepEqual(decodeCraneCount(annotations.node_hot_value, 'Asia/Shanghai'), {
      ok: true,
      annotation: { value: 2, timestampMs: T },
    });
  });

  it('refuses garbled or out-of-range values with a reason', () => {
    const cases: [string, RegExp][] = [
      ['0.5', /expected "<value>,<crane time>"/],
      ['0.5,2026-11-22T14:07:12Z,x', /expected/],
      ['1.5,2026-11-22T14:07:12Z', /above 1/],
      ['-0.1,2026-11-22T14:07:12Z', /not a plain non-negative decimal/],
      ['NaN,2026-11-22T14:07:12Z', /not a plain/],
      ['0.5,2026-11-22T14:07:12+08:00', /not a crane time/],
    ];
    for (const [text, error] of cases) {
      const r = decodeCraneFraction(text, 'Asia/Shanghai');
      assert.ok(!r.ok && error.test(r.error), `${text}: ${JSON.stringify(r)}`);
    }
    const count = decodeCraneCount('1.5,2026-11-22T14:07:12Z', 'Asia/Shanghai');
    assert.ok(!count.ok && /whole count/.test(count.error));
  });
});
