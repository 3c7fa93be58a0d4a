import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MAX_UNCONFIRMED_NODES } from '../contracts/sync-record.ts';
import { CycleConfirmations } from './sync-record.ts';

describe('a cycle’s synced-up-to record', () => {
  it('is the oldest confirmed measurement, in whole seconds, with the failed nodes named', () => {
    const cycle = new CycleConfirmations();
    cycle.confirmed(10_999);
    cycle.confirmed(12_000);
    cycle.failed('n3');
    assert.deepEqual(cycle.record(), { syncedUpToMs: 10_000, unconfirmed: ['n3'] });
  });
  it('is not written when nothing was confirmed or too many nodes failed', () => {
    const none = new CycleConfirmations();
    none.failed('n1');
    assert.equal(none.record(), undefined);
    const many = new CycleConfirmations();
    many.confirmed(1000);
    for (let i = 0; i <= MAX_UNCONFIRMED_NODES; i++) many.failed(`n${i}`);
    assert.equal(many.record(), undefined);
  });
});
