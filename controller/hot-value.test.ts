import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { BindingTracker, bindingTimeMs } from './hot-value.ts';

const MIN = 60_000;
const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);
const RULES = [
  { timeRangeMs: 5 * MIN, count: 5 },
  { timeRangeMs: 1 * MIN, count: 2 },
];

test("crane's rule: the sum over the entries of floor(bindings in timeRange / count)", () => {
  const tracker = new BindingTracker(5 * MIN);
  // 4 bindings 3 minutes ago, 3 in the last minute: 7 in 5m -> floor(7/5)=1; 3 in 1m -> floor(3/2)=1.
  for (let i = 0; i < 4; i++) tracker.record('n1', `old-${i}`, T0 - 3 * MIN, T0);
  for (let i = 0; i < 3; i++) tracker.record('n1', `new-${i}`, T0 - 10_000, T0);
  assert.equal(tracker.hotValue('n1', RULES, T0), 2);
  assert.equal(tracker.hotValue('n2', RULES, T0), 0);
  // A minute later the fresh ones leave the 1m window: floor(7/5) + floor(0/2).
  assert.equal(tracker.hotValue('n1', RULES, T0 + MIN), 1);
  // Past the longest range nothing counts, and pruning forgets it.
  assert.equal(tracker.hotValue('n1', RULES, T0 + 6 * MIN), 0);
  tracker.prune(T0 + 6 * MIN);
  assert.equal(tracker.size, 0);
});

test('a pod seen again (re-list, update) counts once; one bound long ago not at all', () => {
  const tracker = new BindingTracker(5 * MIN);
  for (let i = 0; i < 3; i++) tracker.record('n1', 'same', T0, T0);
  tracker.record('n1', 'ancient', T0 - 60 * MIN, T0);
  assert.equal(tracker.size, 1);
});

test('binding time: the PodScheduled condition, else the creation time', () => {
  const scheduled: V1Pod = {
    metadata: { creationTimestamp: new Date(T0 - MIN) },
    status: { conditions: [{ type: 'PodScheduled', status: 'True', lastTransitionTime: new Date(T0) }] },
  };
  assert.equal(bindingTimeMs(scheduled), T0);
  assert.equal(bindingTimeMs({ metadata: { creationTimestamp: new Date(T0 - MIN) } }), T0 - MIN);
  assert.equal(bindingTimeMs({}), undefined);
});
