import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import { isDaemonSetPod } from './daemonset.ts';

const owned = (...refs: Partial<V1OwnerReference>[]): V1Pod => ({
  metadata: {
    name: 'p',
    ownerReferences: refs.map((r) => ({
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      name: 'ds',
      uid: 'u',
      ...r,
    })),
  },
});

describe('isDaemonSetPod', () => {
  it('recognises the reference the DaemonSet controller writes', () => {
    assert.equal(isDaemonSetPod(owned({ controller: true, blockOwnerDeletion: true })), true);
  });
  it('ignores other owners, non-controller references and look-alike kinds of other groups', () => {
    assert.equal(isDaemonSetPod({ metadata: { name: 'bare' } }), false);
    assert.equal(isDaemonSetPod(owned({ controller: true, kind: 'ReplicaSet' })), false);
    assert.equal(isDaemonSetPod(owned({})), false, 'not the controller');
    assert.equal(isDaemonSetPod(owned({ controller: true, apiVersion: 'example.com/v1' })), false);
  });
  it('finds the controller among several owners', () => {
    assert.equal(isDaemonSetPod(owned({ kind: 'Node', apiVersion: 'v1' }, { controller: true })), true);
  });
});
