import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PENDING_POD_FIELD_SELECTOR, pendingPodSelector } from './pending-pods.ts';

describe('the pending-pod watch selector', () => {
  it('is kube-scheduler’s own: unassigned pods that have not finished', () => {
    assert.equal(PENDING_POD_FIELD_SELECTOR, 'spec.nodeName=,status.phase!=Succeeded,status.phase!=Failed');
  });

  it('narrows to the one scheduler served, and to none of several (filtered on arrival instead)', () => {
    assert.equal(
      pendingPodSelector(new Set(['loadwise-scheduler'])),
      `${PENDING_POD_FIELD_SELECTOR},spec.schedulerName=loadwise-scheduler`,
    );
    assert.equal(pendingPodSelector(new Set(['team-a', 'team-b'])), PENDING_POD_FIELD_SELECTOR);
  });

  it('never puts selector syntax from a scheduler name into the selector', () => {
    for (const name of ['a,spec.nodeName=n1', 'a!=b', 'a\\b', ''])
      assert.equal(pendingPodSelector(new Set([name])), PENDING_POD_FIELD_SELECTOR, name);
  });
});
