import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration } from './duration.ts';

describe('Go durations', () => {
  it('parses what Go parses', () => {
    assert.equal(parseDuration('10s'), 10_000);
    assert.equal(parseDuration('3m'), 180_000);
    assert.equal(parseDuration('1h30m'), 5_400_000);
    assert.equal(parseDuration('250ms'), 250);
    assert.equal(parseDuration('1.5s'), 1500);
    assert.equal(parseDuration('.5s'), 500);
    assert.equal(parseDuration('1500us'), 1.5);
    assert.equal(parseDuration('0'), 0);
    assert.equal(parseDuration('+5s'), 5000);
  });

  it('rejects what Go rejects, and negatives', () => {
    for (const bad of ['', '10', '5 s', '5x', 's', '1d', '-5s', '1h 30m', 'ten seconds', '1.2.3s']) {
      assert.throws(() => parseDuration(bad), RangeError, bad);
    }
  });

  it('prints durations back in Go form', () => {
    assert.equal(formatDuration(10_000), '10s');
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(formatDuration(90_500), '1m30.5s');
    assert.equal(formatDuration(250), '250ms');
  });
});
