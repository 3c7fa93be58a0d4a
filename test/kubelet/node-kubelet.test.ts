// NodeKubelet against the real device plugin (in-process) and the API-server double: pods admitted
// in bind order with what Allocate answered, refusals recorded, devices given back.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { status as grpcStatus } from '@grpc/grpc-js';
import { VGPU_CORE_LIMIT_ENV } from '../../contracts/vgpu-config.ts';
import { NodeKubelet, type PodAdmission } from '../../doubles/kubelet/node-kubelet.ts';
import { CORE, MEMORY, NODE, Rig, gpuUuid } from './rig.ts';

describe('NodeKubelet', () => {
  let rig: Rig;
  let kubelet: NodeKubelet;
  beforeEach(async () => {
    rig = await Rig.open();
    kubelet = new NodeKubelet({
      kubeConfig: rig.cluster.kubeConfig('kubelet'),
      nodeName: NODE,
      kubelet: rig.kubelet,
      pluginWaitMs: 10_000,
    });
  });
  afterEach(async () => {
    await kubelet.stop();
    await rig.close();
  });

  it('admits pods in bind order, keeps what Allocate answered, writes Running, gives devices back on delete', async () => {
    await rig.plugin().start();
    await kubelet.start();
    await rig.createGpuPod('p1', {
      core: 50,
      memory: 8,
      shares: [{ index: 0, core: 50, memoryMiB: 2048 }],
      assumeMs: 1,
    });
    await rig.createGpuPod('p2', {
      core: 30,
      memory: 4,
      shares: [{ index: 1, core: 30, memoryMiB: 1024 }],
      assumeMs: 2,
    });
    const ns = rig.cluster.namespace;
    const [p1, p2] = await Promise.all([kubelet.allocated(ns, 'p1'), kubelet.allocated(ns, 'p2')]);
    assert.deepEqual([p1.sequence, p2.sequence], [1, 2]);
    assert.equal(p1.containers[0]!.envs.NVIDIA_VISIBLE_DEVICES, gpuUuid(0));
    assert.equal(p2.containers[0]!.envs.NVIDIA_VISIBLE_DEVICES, gpuUuid(1));
    assert.equal(p2.containers[0]!.envs[VGPU_CORE_LIMIT_ENV], '30');
    assert.deepEqual(
      [p1.containers[0]!.deviceIds[CORE]!.length, p1.containers[0]!.deviceIds[MEMORY]!.length],
      [50, 8],
    );
    const p1Status = (await rig.readPod('p1')).status;
    assert.equal(p1Status?.phase, 'Running');
    // Every container reported started and ready, as kubelet does (kubectl shows READY 1/1).
    assert.deepEqual(
      p1Status?.containerStatuses?.map((c) => [
        c.name,
        c.ready,
        c.restartCount,
        c.state?.running !== undefined,
      ]),
      [['main', true, 0, true]],
    );
    assert.match(p1Status!.containerStatuses![0]!.containerID!, /^containerd:\/\/[0-9a-f]{64}$/);
    const freeCore = rig.kubelet.available(CORE).length;
    const released = once(kubelet, 'released');
    await rig.core.deleteNamespacedPod({ namespace: ns, name: 'p1' });
    const [gone] = (await released) as [PodAdmission];
    assert.equal(gone.name, 'p1');
    assert.equal(rig.kubelet.available(CORE).length, freeCore + 50);
    assert.equal(kubelet.pod(ns, 'p1'), undefined);
  });

  it('records a refused Allocate as an error, fails the pod, and returns what it took', async () => {
    await rig.plugin().start();
    await kubelet.start();
    const ns = rig.cluster.namespace;
    await rig.createGpuPod('fits', {
      core: 80,
      memory: 4,
      shares: [{ index: 0, core: 80, memoryMiB: 1024 }],
      assumeMs: 1,
    });
    await kubelet.allocated(ns, 'fits');
    const freeCore = rig.kubelet.available(CORE).length;
    const failed = once(kubelet, 'failed');
    // An assignment that would over-commit GPU 0: the agent refuses it.
    await rig.createGpuPod('over', {
      core: 40,
      memory: 4,
      shares: [{ index: 0, core: 40, memoryMiB: 1024 }],
      assumeMs: 2,
    });
    const [admission] = (await failed) as [PodAdmission];
    assert.equal(admission.name, 'over');
    assert.equal(admission.state, 'error');
    assert.equal(admission.error?.code, grpcStatus.RESOURCE_EXHAUSTED);
    assert.equal(admission.error?.resource, CORE);
    await assert.rejects(kubelet.allocated(ns, 'over'), /over-committed/);
    assert.equal(rig.kubelet.available(CORE).length, freeCore);
    const pod = await rig.readPod('over');
    assert.equal(pod.status?.phase, 'Failed');
    assert.equal(pod.status?.reason, 'UnexpectedAdmissionError');
  });

  it('waits for the device plugin to register before it allocates', async () => {
    await kubelet.start();
    const ns = rig.cluster.namespace;
    await rig.createGpuPod('early', {
      core: 25,
      memory: 2,
      shares: [{ index: 2, core: 25, memoryMiB: 512 }],
      assumeMs: 1,
    });
    const pending = kubelet.allocated(ns, 'early');
    assert.equal(kubelet.pod(ns, 'early')?.state ?? 'admitting', 'admitting');
    await rig.plugin().start();
    const admission = await pending;
    assert.equal(admission.containers[0]!.envs.NVIDIA_VISIBLE_DEVICES, gpuUuid(2));
  });
});
