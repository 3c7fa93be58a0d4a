import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeMisfit, Misfit, misfit, prepareTask } from './filter.ts';
import { GpuFleet } from './fleet.ts';
import { type TaskRequest } from './task.ts';

const fleet = () =>
  new GpuFleet([
    { name: 'a', cpuMilli: 16_000, memoryMib: 32_768, gpuCount: 2, gpuModel: 'T4' },
    { name: 'cpu', cpuMilli: 16_000, memoryMib: 32_768, gpuCount: 0, gpuModel: '' },
  ]);
const task = (t: Partial<TaskRequest>): TaskRequest => ({
  cpuMilli: 1000,
  memoryMib: 1024,
  gpuCount: 0,
  gpuMilli: 0,
  gpuModels: [],
  ...t,
});

describe('filter', () => {
  it('says why a node cannot host a task', () => {
    const f = fleet();
    const whole2 = prepareTask(f, task({ gpuCount: 2, gpuMilli: 1000 }));
    f.allocate(0, task({ gpuCount: 1, gpuMilli: 300 }), [0]);
    assert.equal(misfit(f, 0, whole2), Misfit.Whole);
    assert.equal(describeMisfit(f, 0, whole2, Misfit.Whole), 'needs 2 whole GPUs, 1 free');
    assert.equal(misfit(f, 1, whole2), Misfit.NoGpu);
    const big = prepareTask(f, task({ cpuMilli: 20_000 }));
    assert.equal(misfit(f, 0, big), Misfit.Cpu);
    assert.equal(misfit(f, 0, prepareTask(f, task({ memoryMib: 40_000 }))), Misfit.Memory);
    const a100 = prepareTask(f, task({ gpuCount: 1, gpuMilli: 500, gpuModels: ['A100', 'H100'] }));
    assert.equal(misfit(f, 0, a100), Misfit.Model);
    assert.match(describeMisfit(f, 0, a100, Misfit.Model), /T4 is not one of A100\|H100/);
  });

  it('a share fits when one GPU has enough left', () => {
    const f = fleet();
    f.allocate(0, task({ gpuCount: 1, gpuMilli: 700 }), [0]);
    f.allocate(0, task({ gpuCount: 1, gpuMilli: 700 }), [1]);
    const share = prepareTask(f, task({ gpuCount: 1, gpuMilli: 400 }));
    assert.equal(misfit(f, 0, share), Misfit.Share);
    assert.equal(
      describeMisfit(f, 0, share, Misfit.Share),
      'needs 400m of one GPU, at most 300m free on any',
    );
    assert.equal(misfit(f, 0, prepareTask(f, task({ gpuCount: 1, gpuMilli: 300 }))), Misfit.None);
  });

  it('refuses to over-commit a GPU', () => {
    const f = fleet();
    f.allocate(0, task({ gpuCount: 1, gpuMilli: 700 }), [0]);
    assert.throws(() => f.allocate(0, task({ gpuCount: 1, gpuMilli: 400 }), [0]), /over-committed/);
    f.release(0, task({ gpuCount: 1, gpuMilli: 700 }), [0]);
    assert.deepEqual(f.gpuLeftOf(0), [1000, 1000]);
  });
});
