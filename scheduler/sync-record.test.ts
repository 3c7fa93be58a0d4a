// Whoever can write the record can only make the extender release pending bindings later, never
// sooner than the figures show: a forged, garbled or future-dated record counts as none.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SYNCED_UP_TO_ANNOTATION } from '../contracts/sync-record.ts';
import { confirmedAtMs, recordOfLease, SYNC_RECORD_MAX_AHEAD_MS } from './sync-record.ts';

const NOW = Date.UTC(2026, 11, 3, 22, 0, 0);
const lease = (text: string) => ({ metadata: { annotations: { [SYNCED_UP_TO_ANNOTATION]: text } } });

describe('the extender reading the synced-up-to record', () => {
  it('confirms every node but the ones named', () => {
    const record = recordOfLease(lease('2026-12-03T21:59:50Z;n2'));
    assert.ok(typeof record !== 'string');
    assert.equal(confirmedAtMs(record, 'n1', NOW), NOW - 10_000);
    assert.ok(Number.isNaN(confirmedAtMs(record, 'n2', NOW)));
  });
  it('ignores a record dated further ahead than the skew allowance, and caps a near one at now', () => {
    const far = recordOfLease(lease('2099-01-01T00:00:00Z'));
    assert.ok(typeof far !== 'string');
    assert.ok(Number.isNaN(confirmedAtMs(far, 'n1', NOW)));
    const near = recordOfLease(lease('2026-12-03T22:00:20Z'));
    assert.ok(typeof near !== 'string' && 20_000 < SYNC_RECORD_MAX_AHEAD_MS);
    assert.equal(confirmedAtMs(near, 'n1', NOW), NOW);
  });
  it('has nothing to go on without a readable record', () => {
    assert.equal(typeof recordOfLease(undefined), 'string');
    assert.equal(typeof recordOfLease(lease('0.5,garbage')), 'string');
    assert.ok(Number.isNaN(confirmedAtMs(undefined, 'n1', NOW)));
  });
});
