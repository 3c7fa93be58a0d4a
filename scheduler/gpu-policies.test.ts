import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { GpuDevice } from '../contracts/index.ts';
import { GPU_POLICIES } from './core/vgpu-fit/fit.ts';
import { RecentRequests } from './core/vgpu-fit/recent-mix.ts';
import type { PodGpuRequest } from './core/vgpu-fit/request.ts';
import { GpuLedger } from './gpu-ledger.ts';
import { type GpuNode, gpuPlacementPolicy } from './gpu-policies.ts';

const gpus: GpuDevice[] = [0, 1].map((index) => ({
  index,
  uuid: `GPU-${index}`,
  model: 'A100',
  memoryMiB: 40960,
  mig: false,
  healthy: true,
  links: [],
}));
const share = (core: number): PodGpuRequest => ({
  containers: [{ container: 'main', gpus: 1, core, memoryMiB: 0 }],
  models: [],
});
const node = (name: string): GpuNode => ({ name, gpus });

/** n1: one GPU 70 % taken; n2: idle; n3: both GPUs full. */
function cluster(): GpuLedger {
  const ledger = new GpuLedger();
  ledger.assume('ns', 'a', 'n1', { main: [{ index: 0, core: 70, memoryMiB: 1024 }] }, 1);
  for (const [pod, index] of [
    ['b', 0],
    ['c', 1],
  ] as const)
    ledger.assume('ns', pod, 'n3', { main: [{ index, core: 100, memoryMiB: 40960 }] }, 2);
  return ledger;
}

describe('vGPU placement policies', () => {
  for (const name of GPU_POLICIES) {
    it(`${name}: a node the pod does not fit scores NaN, and fit says why`, () => {
      const policy = gpuPlacementPolicy(name, cluster(), new RecentRequests());
      const scores = policy.gpuScores([node('n1'), node('n2'), node('n3')], share(30));
      assert.ok(scores.slice(0, 2).every((s) => s >= 0 && s <= 10));
      assert.ok(Number.isNaN(scores[2]));
      const fit = policy.fit(node('n3'), share(30));
      assert.equal(fit.ok, false);
    });
  }

  it('binpack prefers the node whose GPUs end up fullest, spread the emptiest', () => {
    const candidates = [node('n1'), node('n2')];
    const [b1, b2] = gpuPlacementPolicy('binpack', cluster(), new RecentRequests()).gpuScores(
      candidates,
      share(30),
    );
    const [s1, s2] = gpuPlacementPolicy('spread', cluster(), new RecentRequests()).gpuScores(
      candidates,
      share(30),
    );
    assert.ok(b1! > b2!);
    assert.ok(s1! < s2!);
  });

  it('binpack places a share on the GPU it fills, spread on the emptiest', () => {
    for (const [name, index] of [
      ['binpack', 0],
      ['spread', 1],
    ] as const) {
      const policy = gpuPlacementPolicy(name, cluster(), new RecentRequests());
      const fit = policy.fit(node('n1'), share(30));
      assert.ok(fit.ok);
      assert.equal(policy.place(node('n1'), share(30), fit).main![0]!.index, index);
    }
  });

  it('fgd closes the 30 % hole a 30 % share fits exactly rather than open an idle GPU', () => {
    const mix = new RecentRequests();
    for (let i = 0; i < 20; i++) mix.recordPod(share(30));
    const policy = gpuPlacementPolicy('fgd', cluster(), mix);
    const fit = policy.fit(node('n1'), share(30));
    assert.ok(fit.ok);
    assert.equal(policy.place(node('n1'), share(30), fit).main![0]!.index, 0);
  });
});
