import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeSyncRecord, encodeSyncRecord, MAX_UNCONFIRMED_NODES } from './sync-record.ts';

const AT = Date.UTC(2026, 11, 3, 22, 0, 5);

describe('the synced-up-to record', () => {
  it('round-trips, with and without unconfirmed nodes', () => {
    assert.equal(encodeSyncRecord({ syncedUpToMs: AT, unconfirmed: [] }), '2026-12-03T22:00:05Z');
    const text = encodeSyncRecord({ syncedUpToMs: AT + 999, unconfirmed: ['n2', 'gpu-1.example'] });
    assert.equal(text, '2026-12-03T22:00:05Z;gpu-1.example,n2');
    assert.deepEqual(decodeSyncRecord(text), {
      ok: true,
      record: { syncedUpToMs: AT, unconfirmed: ['gpu-1.example', 'n2'] },
    });
  });
  it('refuses what a writer other than the controller might put there', () => {
    for (const bad of [
      '',
      'yesterday',
      '2026-12-03T22:00:05Z;',
      '2026-12-03T22:00:05Z;N1',
      '2026-12-03T22:00:05Z;n1;n2',
      '2026-12-03T22:00:05Z;n1,,n2',
      `2026-12-03T22:00:05Z;${Array.from({ length: MAX_UNCONFIRMED_NODES + 1 }, (_, i) => `n${i}`).join(',')}`,
    ]) {
      const decoded = decodeSyncRecord(bad);
      assert.equal(decoded.ok, false, `accepted ${bad.slice(0, 60)}`);
    }
  });
});
