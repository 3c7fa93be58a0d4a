// Twin pods: two identical vGPU pods bound by the extender in the same millisecond, then admitted
// by kubelet in bind order. Each container must get its own pod's GPU from the device plugin, or
// the share freed when one pod goes would be the other's (the extender and the plugin would then
// free a GPU that a running container still uses).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { ManualClock } from '../../common/clock.ts';
import { DEFAULT_SCHEDULER_NAME } from '../../contracts/index.ts';
import {
  decodeAssumeTime,
  decodeVgpuAssignment,
  VGPU_ASSIGNMENT_ANNOTATION,
  VGPU_ASSUME_TIME_ANNOTATION,
} from '../../contracts/vgpu-pod.ts';
import type { DevicePlugin } from '../../node-agent/device-plugin/plugin.ts';
import type { SchedulerApp } from '../../scheduler/app.ts';
import { waitForEvent } from '../../doubles/kubelet/kubelet.ts';
import { CORE, MEMORY, NODE, Rig, gpuUuid } from '../kubelet/rig.ts';
import { CPU_ONLY_POLICY, gpuNodeFixture, startTestExtender } from '../support/extender.ts';

describe('twin pods bound in the same millisecond', () => {
  let rig: Rig;
  let app: SchedulerApp;
  let base = '';
  let plugin: DevicePlugin;

  before(async () => {
    rig = await Rig.open();
    await rig.cluster.createNode(gpuNodeFixture(NODE, 4, rig.clock.now()));
    // The extender's clock stands still: every bind happens in the same millisecond.
    ({ app, base } = await startTestExtender(rig.cluster, CPU_ONLY_POLICY, new ManualClock(rig.clock.now())));
    plugin = rig.plugin();
    const core = waitForEvent(rig.kubelet, 'registered', (r) => r === CORE);
    const memory = waitForEvent(rig.kubelet, 'registered', (r) => r === MEMORY);
    await plugin.start();
    await Promise.all([core, memory]);
  });
  after(async () => {
    await plugin.stop();
    await app.stop();
    await rig.close();
  });

  const twin = (name: string): V1Pod => {
    const limits = { [CORE]: '60', [MEMORY]: '4' };
    return {
      metadata: { name },
      spec: {
        schedulerName: DEFAULT_SCHEDULER_NAME,
        containers: [{ name: 'main', image: 'cuda', resources: { limits, requests: limits } }],
      },
    };
  };

  it('each container gets the GPU its own pod was assigned', async () => {
    const namespace = rig.cluster.namespace;
    // Created a then b; kube-scheduler happens to bind b first (its queue is not creation order).
    const created = new Map<string, V1Pod>();
    for (const name of ['twin-a', 'twin-b'])
      created.set(name, await rig.core.createNamespacedPod({ namespace, body: twin(name) }));
    const bind = async (name: string) => {
      const res = await fetch(`${base}/bind`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          PodName: name,
          PodNamespace: namespace,
          PodUID: created.get(name)!.metadata!.uid,
          Node: NODE,
        }),
      });
      assert.deepEqual(await res.json(), { Error: '' });
    };
    // Both bound pods in the plugin's watch before kubelet admits them.
    const watched = ['twin-a', 'twin-b'].map((name) =>
      waitForPod(plugin, name, (p) => p.metadata?.annotations?.[VGPU_ASSUME_TIME_ANNOTATION] !== undefined),
    );
    await bind('twin-b');
    await bind('twin-a');
    await Promise.all(watched);
    const assigned = new Map<string, { gpu: number; assumeMs: number }>();
    for (const name of ['twin-a', 'twin-b']) {
      const annotations = (await rig.readPod(name)).metadata!.annotations!;
      const decoded = decodeVgpuAssignment(annotations[VGPU_ASSIGNMENT_ANNOTATION]!);
      assert.ok(decoded.ok);
      assigned.set(name, {
        gpu: decoded.assignment.containers.main![0]!.index,
        assumeMs: decodeAssumeTime(annotations[VGPU_ASSUME_TIME_ANNOTATION])!,
      });
    }
    assert.notEqual(assigned.get('twin-a')!.gpu, assigned.get('twin-b')!.gpu, '60 % each: two GPUs');
    assert.ok(
      assigned.get('twin-b')!.assumeMs < assigned.get('twin-a')!.assumeMs,
      'binds in one millisecond still get assume times in bind order',
    );
    // kubelet admits them in bind order: b, then a.
    for (const name of ['twin-b', 'twin-a']) {
      const answer = await rig.kubelet.allocateContainer({ [CORE]: 60, [MEMORY]: 4 });
      assert.equal(answer[CORE]!.envs.NVIDIA_VISIBLE_DEVICES, gpuUuid(assigned.get(name)!.gpu), name);
      assert.equal(answer[MEMORY]!.envs.NVIDIA_VISIBLE_DEVICES, gpuUuid(assigned.get(name)!.gpu), name);
    }
    const held = new Map(plugin.allocations().map((a) => [a.podName, a.shares[0]!.index]));
    assert.equal(held.get('twin-a'), assigned.get('twin-a')!.gpu);
    assert.equal(held.get('twin-b'), assigned.get('twin-b')!.gpu);
    await plugin.settled();
  });
});

/** Resolves once the plugin's pod watch shows `name` in the state `ok` accepts. */
function waitForPod(plugin: DevicePlugin, name: string, ok: (pod: V1Pod) => boolean): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pod ${name} not seen in 5 s`)), 5000);
    const listener = (_type: unknown, pod: V1Pod) => {
      if (pod.metadata?.name !== name || !ok(pod) || !pod.spec?.nodeName) return;
      clearTimeout(timer);
      plugin.off('pod', listener);
      resolve();
    };
    plugin.on('pod', listener);
  });
}
