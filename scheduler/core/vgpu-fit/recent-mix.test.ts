import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workloadModel } from '../placement/index.ts';
import { RecentRequests } from './recent-mix.ts';
import type { PodGpuRequest } from './request.ts';

const share = (core: number, containers = 1): PodGpuRequest => ({
  containers: Array.from({ length: containers }, (_, i) => ({
    container: `c${i}`,
    gpus: 1,
    core,
    memoryMiB: 0,
  })),
  models: [],
});

describe('recent vGPU request mix', () => {
  it('holds only the last N requests, so the mix follows the workload and memory stays bounded', () => {
    const mix = new RecentRequests(3);
    for (const core of [10, 20, 30, 40, 50]) mix.recordPod(share(core));
    assert.equal(mix.size, 3);
    assert.deepEqual(
      mix
        .tasks()
        .map((t) => t.gpuMilli)
        .sort((a, b) => a - b),
      [300, 400, 500],
    );
    for (let i = 0; i < 10_000; i++) mix.recordPod(share(25));
    assert.equal(mix.size, 3);
    assert.ok(mix.tasks().every((t) => t.gpuMilli === 250));
  });

  it('counts each GPU container of a pod, in the core units (milli), with the model constraint', () => {
    const mix = new RecentRequests();
    mix.recordPod({
      containers: [
        { container: 'a', gpus: 1, core: 40, memoryMiB: 4096 },
        { container: 'b', gpus: 2, core: 100, memoryMiB: 0 },
      ],
      models: ['A100'],
    });
    assert.deepEqual(
      mix.tasks().map((t) => [t.gpuCount, t.gpuMilli, t.gpuModels]),
      [
        [1, 400, ['A100']],
        [2, 1000, ['A100']],
      ],
    );
    assert.equal(mix.capacity, 1000);
  });

  it('rebuilds its workload model once 1% of the mix is new, so a burst does not rebuild it per call', () => {
    const mix = new RecentRequests(1000);
    for (let i = 0; i < 1000; i++) mix.recordPod(share(50));
    const first = mix.model();
    assert.deepEqual(
      first.shapes.map((s) => s.gpuMilli),
      [500],
    );
    for (let i = 0; i < 9; i++) mix.recordPod(share(30));
    assert.equal(mix.model(), first, 'nine new requests in a thousand keep the model');
    mix.recordPod(share(30));
    assert.notEqual(mix.model(), first, 'the tenth rebuilds it');
    for (let i = 0; i < 90; i++) mix.recordPod(share(30));
    assert.ok(
      mix.model().shapes.some((s) => s.gpuMilli === 300),
      'a tenth of the mix is a shape of its own',
    );
  });

  it('refuses a capacity below one', () => {
    assert.throws(() => new RecentRequests(0), /must be ≥ 1/);
  });

  it('models its mix exactly as the requests themselves model, with the keys it keeps', () => {
    const mix = new RecentRequests(50);
    // Past the ring's end, so kept keys must follow the overwritten positions.
    for (let i = 0; i < 137; i++) mix.recordPod(share([10, 25, 25, 40, 100][i % 5]!, 1 + (i % 2)));
    const model = mix.model();
    assert.deepEqual(model, workloadModel(mix.tasks()));
  });
});
