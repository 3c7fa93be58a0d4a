import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { VGPU_CORE_RESOURCE, VGPU_MEMORY_RESOURCE } from '../../contracts/resources.ts';
import {
  VGPU_ALLOCATED_ANNOTATION,
  VGPU_ASSIGNMENT_ANNOTATION,
  VGPU_ASSUME_TIME_ANNOTATION,
  encodeVgpuAssignment,
} from '../../contracts/vgpu-pod.ts';
import { type LedgerEntry, matchAllocate } from './matcher.ts';
import { pickPreferred } from './preferred.ts';

function pod(
  name: string,
  assumeMs: number,
  core: number,
  extra: Record<string, string> = {},
  namespace = 'ns',
): V1Pod {
  const limits = { [VGPU_CORE_RESOURCE]: String(core), [VGPU_MEMORY_RESOURCE]: '4' };
  return {
    metadata: {
      name,
      namespace,
      uid: `uid-${namespace}-${name}`,
      annotations: {
        [VGPU_ASSIGNMENT_ANNOTATION]: encodeVgpuAssignment({
          containers: { main: [{ index: 0, core, memoryMiB: 1024 }] },
        }),
        [VGPU_ASSUME_TIME_ANNOTATION]: String(assumeMs),
        ...extra,
      },
    },
    spec: { nodeName: 'n', containers: [{ name: 'main', resources: { limits } }] },
  };
}

const ids = (n: number) => Array.from({ length: n }, (_, i) => `GPU-x-core-${i}`).sort();

describe('matchAllocate', () => {
  it('takes the oldest assume time among pods whose request equals the count; ties by creation time, then UID', () => {
    const created = (p: V1Pod, iso: string, uid?: string): V1Pod => {
      p.metadata!.creationTimestamp = new Date(iso);
      if (uid) p.metadata!.uid = uid;
      return p;
    };
    const pods = [
      created(pod('a', 10, 20), '2026-12-03T10:00:02Z'),
      created(pod('b', 10, 20), '2026-12-03T10:00:01Z', 'uid-2'),
      created(pod('c', 10, 20), '2026-12-03T10:00:01Z', 'uid-1'),
      pod('old', 5, 30),
      pod('z', 10, 20, {}, 'ns2'),
    ];
    const m = matchAllocate('core', ids(20), pods, []);
    assert.equal(m.kind === 'new' && m.pod.metadata?.name, 'c');
    const later = matchAllocate('core', ids(20), pods.slice(0, 2), []);
    assert.equal(later.kind === 'new' && later.pod.metadata?.name, 'b');
    const m30 = matchAllocate('core', ids(30), pods, []);
    assert.equal(m30.kind === 'new' && m30.pod.metadata?.name, 'old');
  });

  it('follows a pod update: the next object of a pod is decoded anew, not answered from the last one', () => {
    const first = pod('a', 10, 20);
    const m = matchAllocate('core', ids(20), [first], []);
    assert.equal(m.kind === 'new' && m.shares[0]?.index, 0);
    // The extender re-placed the pod: the watch delivers a new object with another assignment.
    const moved = pod('a', 10, 20, {
      [VGPU_ASSIGNMENT_ANNOTATION]: encodeVgpuAssignment({
        containers: { main: [{ index: 3, core: 20, memoryMiB: 1024 }] },
      }),
    });
    const again = matchAllocate('core', ids(20), [moved], []);
    assert.equal(again.kind === 'new' && again.shares[0]?.index, 3);
    // And one whose assignment is gone is no candidate at all.
    const cleared = pod('a', 10, 20);
    delete cleared.metadata!.annotations![VGPU_ASSIGNMENT_ANNOTATION];
    assert.equal(matchAllocate('core', ids(20), [cleared], []).kind, 'none');
    // The decoded answer is shared between calls, so nobody may change it.
    assert.throws(() => {
      if (again.kind === 'new') (again.request as { core: number }).core = 1;
    }, TypeError);
  });

  it('skips pods already allocated, finished or being deleted, and says why nothing matched', () => {
    const done = pod('done', 1, 20, { [VGPU_ALLOCATED_ANNOTATION]: '2026-11-22T07:00:00Z' });
    const failed = { ...pod('failed', 2, 20), status: { phase: 'Failed' } };
    const deleting = pod('deleting', 3, 20);
    deleting.metadata!.deletionTimestamp = new Date();
    const m = matchAllocate('core', ids(20), [done, failed, deleting], []);
    assert.equal(m.kind, 'none');
    assert.match(
      m.kind === 'none' ? m.reason : '',
      /no pod on this node waits for 20 loadwise.io\/vgpu-core/,
    );
  });

  it('continues the container in flight before starting another pod', () => {
    const first = pod('first', 1, 20);
    const second = pod('second', 2, 20);
    const entry: LedgerEntry = {
      allocation: {
        podUID: first.metadata!.uid!,
        namespace: 'ns',
        podName: 'first',
        container: 'main',
        shares: [{ index: 0, core: 20, memoryMiB: 1024, uuid: 'GPU-x' }],
        request: { core: 20, memory: 4 },
        deviceIds: { core: ids(20) },
        allocatedAtMs: 1,
      },
      answered: new Set(['core']),
      recovered: false,
    };
    const memory = matchAllocate(
      'memory',
      ['GPU-x-memory-0', 'GPU-x-memory-1', 'GPU-x-memory-2', 'GPU-x-memory-3'],
      [first, second],
      [entry],
    );
    assert.equal(memory.kind === 'existing' && memory.entry, entry);
    const core = matchAllocate('core', ids(20), [first, second], [entry]);
    assert.equal(core.kind === 'new' && core.pod.metadata?.name, 'second');
  });
});

describe('pickPreferred', () => {
  it('puts must-include first, then the preferred GPU’s units, and returns exactly size IDs', () => {
    const available = ['A-core-0', 'A-core-1', 'B-core-0', 'B-core-1', 'B-core-2'];
    assert.deepEqual(pickPreferred(available, ['A-core-1'], ['B'], 3), ['A-core-1', 'B-core-0', 'B-core-1']);
    assert.deepEqual(pickPreferred(available, [], ['C'], 2), ['A-core-0', 'A-core-1']);
  });
});
