// `--resource-names gpu-manager`: the device plugin registers Tencent gpu-manager's resource names
// instead of loadwise's, and a pod spec written for gpu-manager is allocated unchanged.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { VGPU_RESOURCE_NAME_SETS } from '../../contracts/resources.ts';
import { VGPU_CORE_LIMIT_ENV, vgpuMemoryLimitEnv } from '../../contracts/vgpu-config.ts';
import { waitForEvent } from '../../doubles/kubelet/kubelet.ts';
import { CORE, MEMORY, Rig, gpuUuid } from '../../test/kubelet/rig.ts';
import type { DevicePlugin } from './plugin.ts';

const VCUDA = VGPU_RESOURCE_NAME_SETS['gpu-manager'];
const MIB = 1024 * 1024;

describe('device plugin with --resource-names gpu-manager', () => {
  let rig: Rig;
  let plugin: DevicePlugin;

  before(async () => {
    rig = await Rig.open();
    plugin = rig.plugin({ resourceNames: 'gpu-manager' });
    const core = waitForEvent(rig.kubelet, 'registered', (r) => r === VCUDA.core);
    const memory = waitForEvent(rig.kubelet, 'registered', (r) => r === VCUDA.memory);
    await plugin.start();
    await Promise.all([core, memory]);
  });
  after(async () => rig.close());

  it('registers tencent.com/vcuda-core and tencent.com/vcuda-memory, and never loadwise’s names beside them', () => {
    const names = rig.kubelet.registrations.map((r) => r.resource_name).sort();
    assert.deepEqual(names, ['tencent.com/vcuda-core', 'tencent.com/vcuda-memory']);
    assert.equal(rig.kubelet.plugin(CORE), undefined, 'no loadwise.io/vgpu-core: capacity is not doubled');
    assert.equal(rig.kubelet.plugin(MEMORY), undefined);
  });

  it("advertises gpu-manager's units: 100 vcuda-core per GPU, vcuda-memory in 256 MiB", async () => {
    if (rig.kubelet.healthyCount(VCUDA.core) === 0)
      await waitForEvent(rig.kubelet, 'devices', (r, d) => r === VCUDA.core && d.length > 0);
    assert.equal(rig.kubelet.healthyCount(VCUDA.core), 400);
    assert.equal(rig.kubelet.healthyCount(VCUDA.memory), 4 * 64);
  });

  it('allocates a pod written for gpu-manager (tencent.com/vcuda-* limits) with its assigned GPU and limits', async () => {
    await rig.createGpuPod('vcuda', {
      core: 30,
      memory: 8,
      shares: [{ index: 1, core: 30, memoryMiB: 2048 }],
      assumeMs: rig.clock.now(),
      names: 'gpu-manager',
    });
    const answers = await rig.kubelet.allocateContainer({ [VCUDA.core]: 30, [VCUDA.memory]: 8 });
    for (const resource of [VCUDA.core, VCUDA.memory]) {
      const a = answers[resource]!;
      assert.equal(a.envs.NVIDIA_VISIBLE_DEVICES, gpuUuid(1), resource);
      assert.equal(a.envs[VGPU_CORE_LIMIT_ENV], '30');
      assert.equal(a.envs[vgpuMemoryLimitEnv(0)], String(2048 * MIB));
    }
    assert.equal(plugin.allocations().find((x) => x.podName === 'vcuda')?.request.memory, 8);
  });
});
