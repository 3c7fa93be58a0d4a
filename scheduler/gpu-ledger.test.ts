import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { encodeVgpuAssignment, type GpuDevice, VGPU_ASSIGNMENT_ANNOTATION } from '../contracts/index.ts';
import { GpuLedger } from './gpu-ledger.ts';

const inventory: GpuDevice[] = [0, 1].map((i) => ({
  index: i,
  uuid: `GPU-${i}`,
  model: 'A100',
  memoryMiB: 40960,
  mig: false,
  healthy: true,
  links: [],
}));
const bound = (name: string, node: string, index: number, core: number, phase = 'Running'): V1Pod => ({
  metadata: {
    name,
    namespace: 'ns',
    annotations: {
      [VGPU_ASSIGNMENT_ANNOTATION]: encodeVgpuAssignment({
        containers: { main: [{ index, core, memoryMiB: 1024 }] },
      }),
    },
  },
  spec: { nodeName: node, containers: [] },
  status: { phase },
});
const freeCore = (ledger: GpuLedger, node: string) => ledger.free(node, inventory).map((g) => g.core);

describe('GPU ledger', () => {
  it('counts what bound pods and its own binds hold, and frees it when they go', () => {
    const ledger = new GpuLedger();
    ledger.onPod('ADDED', bound('a', 'n1', 0, 30));
    ledger.onPod('ADDED', bound('b', 'n1', 0, 20));
    ledger.assume('ns', 'c', 'n1', { main: [{ index: 1, core: 50, memoryMiB: 2048 }] }, 0);
    assert.deepEqual(freeCore(ledger, 'n1'), [50, 50]);
    assert.deepEqual(ledger.usage('n1')?.get(0), { core: 50, memoryMiB: 2048 });
    // The watch confirms c (on another GPU than assumed): counted once, where it really is.
    ledger.onPod('MODIFIED', bound('c', 'n1', 0, 50));
    assert.deepEqual(freeCore(ledger, 'n1'), [0, 100]);
    ledger.onPod('MODIFIED', bound('a', 'n1', 0, 30, 'Succeeded'));
    ledger.onPod('DELETED', bound('b', 'n1', 0, 20));
    ledger.onPod('DELETED', bound('c', 'n1', 0, 50));
    assert.deepEqual(freeCore(ledger, 'n1'), [100, 100]);
    assert.equal(ledger.usage('n1'), undefined);
  });

  it('drops its own binds the watch never confirmed, and a failed bind at once', () => {
    const ledger = new GpuLedger();
    ledger.assume('ns', 'old', 'n1', { main: [{ index: 0, core: 40, memoryMiB: 1024 }] }, 1_000);
    ledger.assume('ns', 'failed', 'n1', { main: [{ index: 1, core: 40, memoryMiB: 1024 }] }, 9_000);
    ledger.forget('ns', 'failed');
    ledger.prune(10_000, 5_000);
    assert.deepEqual(freeCore(ledger, 'n1'), [100, 100]);
  });

  it('answers free lists that follow every change of usage and of the inventory', () => {
    const ledger = new GpuLedger();
    assert.deepEqual(freeCore(ledger, 'n1'), [100, 100]);
    ledger.assume('ns', 'a', 'n1', { main: [{ index: 1, core: 40, memoryMiB: 1024 }] }, 0);
    assert.deepEqual(freeCore(ledger, 'n1'), [100, 60]);
    // Read again unchanged, then after a change on another node: the same answer.
    assert.deepEqual(freeCore(ledger, 'n1'), [100, 60]);
    ledger.assume('ns', 'b', 'n2', { main: [{ index: 0, core: 10, memoryMiB: 1024 }] }, 0);
    assert.deepEqual(freeCore(ledger, 'n1'), [100, 60]);
    // The node's inventory republished with a third GPU (a new entry, as the node index makes one).
    const grown = [...inventory, { ...inventory[0]!, index: 2, uuid: 'GPU-2' }];
    assert.deepEqual(
      ledger.free('n1', grown).map((g) => g.core),
      [100, 60, 100],
    );
    ledger.forget('ns', 'a');
    assert.deepEqual(
      ledger.free('n1', grown).map((g) => g.core),
      [100, 100, 100],
    );
  });
});
