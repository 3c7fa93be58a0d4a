import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatRfc3339, parseRfc3339 } from './time.ts';

describe('RFC 3339', () => {
  it('parses UTC, offsets and fractional seconds', () => {
    const t = Date.UTC(2026, 0, 31, 23, 59, 58);
    assert.equal(parseRfc3339('2026-01-31T23:59:58Z'), t);
    assert.equal(parseRfc3339('2026-02-01T01:29:58+01:30'), t);
    assert.equal(parseRfc3339('2026-01-31T18:59:58-05:00'), t);
    assert.equal(parseRfc3339('2026-01-31T23:59:58.123456789Z'), t + 123);
  });

  it('knows leap years', () => {
    assert.equal(parseRfc3339('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29));
    assert.equal(parseRfc3339('2026-02-29T00:00:00Z'), undefined);
  });

  it('rejects what is not RFC 3339', () => {
    for (const bad of [
      '',
      '2026-13-01T00:00:00Z',
      '2026-00-10T00:00:00Z',
      '2026-04-31T00:00:00Z',
      '2026-01-01T00:60:00Z',
      '2026-01-01T00:00:00+25:00',
      '2026-01-01',
      '1700000000',
      '2026-01-01T00:00:00Zjunk',
    ]) {
      assert.equal(parseRfc3339(bad), undefined, bad);
    }
  });

  it('formats whole seconds in UTC', () => {
    assert.equal(formatRfc3339(Date.UTC(2026, 10, 22, 6, 7, 12, 999)), '2026-11-22T06:07:12Z');
    assert.equal(parseRfc3339(formatRfc3339(1_800_000_000_000)), 1_800_000_000_000);
  });
});
