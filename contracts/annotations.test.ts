import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  craneAnnotationKey,
  decodeCount,
  decodeFraction,
  encodeCount,
  encodeFraction,
  figureAnnotationKey,
  HOT_VALUE_ANNOTATION,
} from './annotations.ts';
import { NODE_FIGURES } from './figures.ts';

const T = Date.UTC(2026, 10, 22, 6, 7, 12);

describe('annotation keys', () => {
  it('prefixes every figure with loadwise.io/ and keeps crane-scheduler bare keys', () => {
    assert.equal(figureAnnotationKey('cpu_usage_avg_5m'), 'loadwise.io/cpu_usage_avg_5m');
    assert.equal(craneAnnotationKey('cpu_usage_avg_5m'), 'cpu_usage_avg_5m');
    assert.equal(HOT_VALUE_ANNOTATION, 'loadwise.io/node_hot_value');
  });

  it('gives every figure a valid, distinct Kubernetes annotation key', () => {
    const keys = NODE_FIGURES.map(figureAnnotationKey);
    assert.equal(new Set(keys).size, keys.length);
    // Qualified name: optional DNS prefix, then <= 63 chars of [A-Za-z0-9_.-].
    for (const key of keys)
      assert.match(key, /^loadwise\.io\/[A-Za-z0-9]([A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$/);
  });
});

describe('fraction codec', () => {
  it('writes 5 decimals and a UTC RFC 3339 time', () => {
    assert.equal(encodeFraction(0.35, T), '0.35000,2026-11-22T06:07:12Z');
    assert.equal(encodeFraction(0, T), '0.00000,2026-11-22T06:07:12Z');
    assert.equal(encodeFraction(1, T + 999), '1.00000,2026-11-22T06:07:12Z');
  });

  it('refuses to write a value that is not a fraction', () => {
    for (const bad of [Number.NaN, -0.01, 1.00001, Number.POSITIVE_INFINITY]) {
      assert.throws(() => encodeFraction(bad, T), RangeError);
    }
  });

  it('round-trips what it writes', () => {
    for (const v of [0, 0.00001, 0.5, 0.99999, 1]) {
      const decoded = decodeFraction(encodeFraction(v, T));
      assert.deepEqual(decoded, { ok: true, annotation: { value: v, timestampMs: T } });
    }
  });

  it('reads crane-scheduler values and other offsets', () => {
    assert.deepEqual(decodeFraction('0.31806,2026-11-22T06:07:12Z'), {
      ok: true,
      annotation: { value: 0.31806, timestampMs: T },
    });
    const r = decodeFraction('0.5,2026-11-22T08:07:12+02:00');
    assert.ok(r.ok);
    assert.equal(r.annotation.timestampMs, T);
  });

  const rejected: [string, RegExp][] = [
    ['NaN,2026-11-22T06:07:12Z', /not a plain/],
    ['-0.10000,2026-11-22T06:07:12Z', /not a plain/],
    ['1.00001,2026-11-22T06:07:12Z', /above 1/],
    ['35,2026-11-22T06:07:12Z', /above 1/],
    ['1e-3,2026-11-22T06:07:12Z', /not a plain/],
    ['Infinity,2026-11-22T06:07:12Z', /not a plain/],
    [' 0.5,2026-11-22T06:07:12Z', /not a plain/],
    ['0.5', /expected/],
    ['', /expected/],
    ['0.5,2026-11-22T06:07:12Z,extra', /expected/],
    ['0.5,', /not an RFC 3339/],
    ['0.5,2026-02-30T06:07:12Z', /not an RFC 3339/],
    ['0.5,2026-11-22 06:07:12Z', /not an RFC 3339/],
    ['0.5,2026-11-22T24:00:00Z', /not an RFC 3339/],
    ['0.5,2026-11-22T06:07:12', /not an RFC 3339/],
    ['0.5,yesterday', /not an RFC 3339/],
  ];
  for (const [text, message] of rejected) {
    it(`rejects ${JSON.stringify(text)}`, () => {
      const r = decodeFraction(text);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, message);
    });
  }

  it('clips a huge garbage value in its error message', () => {
    const r = decodeFraction(`${'9'.repeat(10_000)},x`);
    assert.equal(r.ok, false);
    if (!r.ok) assert.ok(r.error.length < 200);
  });
});

describe('count codec (hot value)', () => {
  it('round-trips whole counts, including above 1', () => {
    assert.equal(encodeCount(3, T), '3,2026-11-22T06:07:12Z');
    assert.deepEqual(decodeCount('3,2026-11-22T06:07:12Z'), {
      ok: true,
      annotation: { value: 3, timestampMs: T },
    });
  });
  it('rejects fractions, negatives and garbage', () => {
    assert.throws(() => encodeCount(1.5, T), RangeError);
    assert.throws(() => encodeCount(-1, T), RangeError);
    assert.equal(decodeCount('-1,2026-11-22T06:07:12Z').ok, false);
    assert.equal(decodeCount('abc,2026-11-22T06:07:12Z').ok, false);
    assert.equal(decodeCount(`${'9'.repeat(30)},2026-11-22T06:07:12Z`).ok, false);
  });
});
