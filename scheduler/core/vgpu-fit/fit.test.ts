import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import type { GpuDevice } from '../../../contracts/index.ts';
import { fitPod, type GpuFree } from './fit.ts';
import { podGpuRequest } from './request.ts';

function gpus(n: number, model = 'A100', links?: (i: number, j: number) => string): GpuDevice[] {
  return Array.from({ length: n }, (_, i) => ({
    index: i,
    uuid: `GPU-${i}`,
    model,
    memoryMiB: 81920,
    mig: false,
    healthy: true,
    links: links ? Array.from({ length: n }, (_, j) => (i === j ? 'X' : links(i, j))) : [],
  }));
}
const free = (devices: GpuDevice[], core: number[] = []): GpuFree[] =>
  devices.map((d, i) => ({ device: d, core: core[i] ?? 100, memoryMiB: core[i] === 0 ? 0 : d.memoryMiB }));

function pod(limits: Record<string, string>[], model?: string): V1Pod {
  return {
    metadata: { name: 'p', annotations: model ? { 'loadwise.io/gpu-model': model } : {} },
    spec: { containers: limits.map((l, i) => ({ name: `c${i}`, image: 'i', resources: { limits: l } })) },
  };
}
function request(limits: Record<string, string>[], model?: string) {
  const r = podGpuRequest(pod(limits, model));
  assert.ok(r.ok && r.request, JSON.stringify(r));
  return r.request;
}

describe('vGPU requests', () => {
  it('reads shares, whole GPUs, memory units and the model constraint', () => {
    assert.deepEqual(
      request([{ 'loadwise.io/vgpu-core': '30', 'loadwise.io/vgpu-memory': '16' }], 'A100|H100'),
      {
        containers: [{ container: 'c0', gpus: 1, core: 30, memoryMiB: 4096 }],
        models: ['A100', 'H100'],
      },
    );
    assert.deepEqual(request([{ 'loadwise.io/vgpu-core': '200' }]).containers[0], {
      container: 'c0',
      gpus: 2,
      core: 100,
      memoryMiB: 0,
    });
  });
  it('says what is wrong with a malformed request', () => {
    for (const [limits, why] of [
      [{ 'loadwise.io/vgpu-core': '150' }, /multiple of 100/],
      [{ 'loadwise.io/vgpu-memory': '4' }, /needs loadwise.io\/vgpu-core/],
      [{ 'loadwise.io/vgpu-core': '1.5' }, /whole numbers/],
    ] as const) {
      const r = podGpuRequest(pod([limits]));
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, why);
    }
    assert.deepEqual(podGpuRequest(pod([{ cpu: '1' }])), { ok: true, request: undefined });
  });
});

describe("vGPU requests in gpu-manager's names (tencent.com/vcuda-*)", () => {
  it('reads them as the same units: 100 vcuda-core per GPU, vcuda-memory in 256 MiB whatever loadwise is set to', () => {
    // A pod spec from a gpu-manager cluster: 0.3 of a GPU and 5 GiB, unchanged.
    const spec = [{ 'tencent.com/vcuda-core': '30', 'tencent.com/vcuda-memory': '20' }];
    assert.deepEqual(request(spec).containers, [{ container: 'c0', gpus: 1, core: 30, memoryMiB: 5120 }]);
    const r = podGpuRequest(pod(spec), 1024);
    assert.ok(r.ok && r.request?.containers[0]?.memoryMiB === 5120, 'gpu-manager units are fixed');
    assert.deepEqual(request([{ 'tencent.com/vcuda-core': '200' }]).containers[0], {
      container: 'c0',
      gpus: 2,
      core: 100,
      memoryMiB: 0,
    });
  });
  it('names the resource the pod used when something is wrong, and refuses a container that mixes sets for one resource', () => {
    for (const [limits, why] of [
      [
        { 'tencent.com/vcuda-core': '150' },
        /tencent.com\/vcuda-core 150 above 100 must be a multiple of 100/,
      ],
      [{ 'tencent.com/vcuda-memory': '4' }, /tencent.com\/vcuda-memory needs tencent.com\/vcuda-core/],
      [
        { 'loadwise.io/vgpu-core': '30', 'tencent.com/vcuda-core': '30' },
        /asks for both loadwise.io\/vgpu-core and tencent.com\/vcuda-core/,
      ],
    ] as const) {
      const r = podGpuRequest(pod([limits]));
      assert.ok(!r.ok, JSON.stringify(limits));
      assert.match(r.error, why);
    }
  });
});

describe('fitPod', () => {
  it('binpacks shares onto the fullest GPU that fits, spread onto the emptiest', () => {
    const devices = gpus(3);
    const r = request([{ 'loadwise.io/vgpu-core': '30' }]);
    const packed = fitPod(free(devices, [100, 40, 70]), r, 'binpack');
    assert.ok(packed.ok);
    assert.equal(packed.containers.c0![0]!.index, 1);
    const spread = fitPod(free(devices, [100, 40, 70]), r, 'spread');
    assert.ok(spread.ok);
    assert.equal(spread.containers.c0![0]!.index, 0);
  });

  it('gives a share without a memory request its proportional memory', () => {
    const fit = fitPod(free(gpus(1)), request([{ 'loadwise.io/vgpu-core': '25' }]), 'binpack');
    assert.ok(fit.ok);
    assert.deepEqual(fit.containers.c0, [{ index: 0, core: 25, memoryMiB: 20480 }]);
  });

  it('takes whole GPUs only when wholly free, preferring the best-linked set', () => {
    // GPUs 0-1 and 2-3 are NVLink pairs; across pairs only SYS.
    const devices = gpus(4, 'A100', (i, j) => (Math.floor(i / 2) === Math.floor(j / 2) ? 'NV12' : 'SYS'));
    const fit = fitPod(
      free(devices, [100, 60, 100, 100]),
      request([{ 'loadwise.io/vgpu-core': '200' }]),
      'binpack',
    );
    assert.ok(fit.ok);
    assert.deepEqual(
      fit.containers.c0!.map((s) => s.index),
      [2, 3],
    );
    const none = fitPod(
      free(devices, [100, 60, 50, 0]),
      request([{ 'loadwise.io/vgpu-core': '200' }]),
      'binpack',
    );
    assert.deepEqual(none, { ok: false, reason: 'needs 2 whole GPUs, 1 free' });
  });

  it('gives a whole-GPU container only GPUs with at least the memory it asked, per GPU', () => {
    // The case: 40 GiB (160 units of 256 MiB) asked; four idle 15 GiB T4s, one 80 GiB A100.
    const t4s = gpus(4, 'T4').map((d) => ({ ...d, memoryMiB: 15_360 }));
    const big = request([{ 'loadwise.io/vgpu-core': '100', 'loadwise.io/vgpu-memory': '160' }]);
    assert.deepEqual(fitPod(free(t4s), big, 'binpack'), {
      ok: false,
      reason: 'needs 1 whole GPU with at least 40960 MiB each, 0 free (4 idle GPUs in all)',
    });
    const fit = fitPod(free(gpus(1)), big, 'binpack');
    assert.ok(fit.ok);
    assert.deepEqual(fit.containers.c0, [{ index: 0, core: 100, memoryMiB: 81920 }]);
    // Two GPUs of 40 GiB each: a node with one 80 GiB and one 15 GiB GPU cannot take it.
    const mixed = [gpus(1)[0]!, { ...t4s[1]!, model: 'A100' }];
    const two = request([{ 'loadwise.io/vgpu-core': '200', 'loadwise.io/vgpu-memory': '160' }]);
    assert.equal(fitPod(free(mixed), two, 'binpack').ok, false);
    assert.equal(fitPod(free(gpus(2)), two, 'binpack').ok, true);
    // Asking no memory, a whole GPU of any size will do.
    assert.equal(fitPod(free(t4s), request([{ 'loadwise.io/vgpu-core': '100' }]), 'binpack').ok, true);
  });

  it('honours the model constraint and health, and says why not', () => {
    const devices = [...gpus(1, 'T4'), { ...gpus(2, 'A100')[1]!, healthy: false }];
    assert.deepEqual(fitPod(free(devices), request([{ 'loadwise.io/vgpu-core': '10' }], 'A100'), 'binpack'), {
      ok: false,
      reason: 'no healthy A100 GPU',
    });
    assert.deepEqual(fitPod([], request([{ 'loadwise.io/vgpu-core': '10' }]), 'binpack'), {
      ok: false,
      reason: 'node has no GPU inventory',
    });
    assert.match(
      (
        fitPod(free(gpus(2), [20, 10]), request([{ 'loadwise.io/vgpu-core': '30' }]), 'binpack') as {
          reason: string;
        }
      ).reason,
      /no GPU with 30 core free \(most free: 20 core\)/,
    );
  });

  it('a short model name in the constraint matches the product name nvidia-smi reports', () => {
    const devices = [...gpus(1, 'NVIDIA A10'), ...gpus(1, 'NVIDIA A100-SXM4-80GB')].map((d, index) => ({
      ...d,
      index,
    }));
    const fit = fitPod(free(devices), request([{ 'loadwise.io/vgpu-core': '10' }], 'A100'), 'binpack');
    assert.ok(fit.ok);
    assert.deepEqual(
      Object.values(fit.containers)
        .flat()
        .map((s) => s.index),
      [1],
    );
  });

  it('places several containers of one pod without reusing what the first took', () => {
    const fit = fitPod(
      free(gpus(2), [60, 100]),
      request([{ 'loadwise.io/vgpu-core': '50' }, { 'loadwise.io/vgpu-core': '50' }]),
      'binpack',
    );
    assert.ok(fit.ok);
    assert.equal(fit.containers.c0![0]!.index, 0);
    assert.equal(fit.containers.c1![0]!.index, 1);
  });
});
