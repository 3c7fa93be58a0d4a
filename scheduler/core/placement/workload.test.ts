import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type TaskRequest, invalidTaskReason, parseGpuModels } from './task.ts';
import { milliFromVgpuCore, vgpuCoreFromMilli } from './units.ts';
import { targetWorkload } from './workload.ts';

const t = (cpuMilli: number, gpuCount: number, gpuMilli: number, memoryMib = 1): TaskRequest => ({
  cpuMilli,
  memoryMib,
  gpuCount,
  gpuMilli,
  gpuModels: [],
});

describe('target workload', () => {
  it('keeps the most popular shapes until the coverage is reached, renormalised', () => {
    const tasks = [...Array(6).fill(t(1000, 1, 500)), ...Array(3).fill(t(2000, 0, 0)), t(4000, 1, 1000)];
    const shapes = targetWorkload(tasks, 0.9);
    assert.equal(shapes.length, 2);
    assert.deepEqual(
      shapes.map((s) => [s.cpuMilli, s.gpuMilli, s.popularity]),
      [
        [1000, 500, 6 / 9],
        [2000, 0, 3 / 9],
      ],
    );
  });

  it('memory does not make a shape; a zero-milli GPU request is CPU-only', () => {
    const shapes = targetWorkload([t(1000, 1, 500, 10), t(1000, 1, 500, 20), t(1000, 1, 0)], 1);
    assert.equal(shapes.length, 2);
    assert.equal(shapes[1]!.gpuCount, 0);
  });
});

describe('task requests and units', () => {
  it('rejects shares of more than one GPU and parses model lists', () => {
    assert.match(invalidTaskReason(t(1, 2, 500)) ?? '', /share/);
    assert.equal(invalidTaskReason(t(1, 2, 1000)), null);
    assert.deepEqual(parseGpuModels('A100||H100|'), ['A100', 'H100']);
  });

  it('converts vgpu-core (100 per GPU) to milli and back', () => {
    assert.equal(milliFromVgpuCore(100), 1000);
    assert.equal(milliFromVgpuCore(25), 250);
    assert.equal(vgpuCoreFromMilli(470), 47);
  });
});
