import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { status } from '@grpc/grpc-js';
import { Checkpoint } from './checkpoint.ts';
import { StaticGpuSource } from './devices.ts';
import { AllocationLedger, keyOf } from './ledger.ts';
import type { ContainerAllocation } from './matcher.ts';
import { GrpcError } from './resource-server.ts';

function allocation(podUID: string, core: number, memoryMiB: number): ContainerAllocation {
  return {
    podUID,
    namespace: 'ns',
    podName: podUID,
    container: 'main',
    shares: [{ index: 0, core, memoryMiB, uuid: 'GPU-0' }],
    request: { core, memory: memoryMiB / 256 },
    deviceIds: { core: [`GPU-0-core-${podUID}`] },
    allocatedAtMs: 1,
  };
}

describe('AllocationLedger', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp('/tmp/lw-ledger-');
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const gpus = new StaticGpuSource([{ index: 0, uuid: 'GPU-0', model: 'm', memoryMiB: 8192, healthy: true }]);

  it('refuses a share that would over-commit a GPU, by core or by memory', () => {
    const checkpoint = new Checkpoint(join(dir, 'a'), () => 1);
    const ledger = new AllocationLedger({ checkpoint, nodeName: 'n', gpus });
    ledger.restore([allocation('a', 60, 4096)]);
    ledger.checkCapacity('ns/b', [{ index: 0, core: 40, memoryMiB: 4096 }]);
    const exhausted = (err: unknown) => err instanceof GrpcError && err.code === status.RESOURCE_EXHAUSTED;
    assert.throws(() => ledger.checkCapacity('ns/b', [{ index: 0, core: 41, memoryMiB: 1 }]), exhausted);
    assert.throws(() => ledger.checkCapacity('ns/b', [{ index: 0, core: 1, memoryMiB: 4097 }]), exhausted);
  });

  it('says which pods it holds and hands out copies of its allocations', () => {
    const checkpoint = new Checkpoint(join(dir, 'b'), () => 1);
    const ledger = new AllocationLedger({ checkpoint, nodeName: 'n', gpus });
    ledger.restore([allocation('a', 10, 256)]);
    assert.equal(ledger.holds('a'), true);
    assert.equal(ledger.holds('b'), false);
    assert.equal(ledger.holds(undefined), false);
    const copy = ledger.allocations();
    copy[0]!.shares[0]!.core = 99;
    assert.equal(ledger.allocations()[0]!.shares[0]!.core, 10);
  });

  it('writes what it records and saves through its checkpoint', async () => {
    const checkpoint = new Checkpoint(join(dir, 'c'), () => 1);
    const ledger = new AllocationLedger({ checkpoint, nodeName: 'n', gpus });
    const a = allocation('a', 10, 256);
    const b = allocation('b', 20, 512);
    ledger.set(keyOf(a), { allocation: a, answered: new Set(['core']), recovered: false });
    await ledger.record(a);
    ledger.set(keyOf(b), { allocation: b, answered: new Set(['core']), recovered: false });
    await ledger.record(b);
    checkpoint.close();
    assert.deepEqual(await new Checkpoint(join(dir, 'c'), () => 1).load(), {
      kind: 'ok',
      allocations: [a, b],
    });
    ledger.delete(keyOf(a));
    await ledger.save();
    checkpoint.close();
    assert.deepEqual(await new Checkpoint(join(dir, 'c'), () => 1).load(), { kind: 'ok', allocations: [b] });
  });
});
