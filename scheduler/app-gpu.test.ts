// vGPU placement through the extender's verbs, against the API-server double: GPU fit in filter,
// the assignment written on the pod before the Binding, and a burst that never over-commits a GPU.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type V1Node, type V1Pod } from '@kubernetes/client-node';
import {
  decodeGpuInventory,
  decodeVgpuAssignment,
  encodeGpuInventory,
  GPU_INVENTORY_ANNOTATION,
  type ExtenderFilterResult,
  type HostPriorityList,
  VGPU_ASSIGNMENT_ANNOTATION,
  VGPU_ASSUME_TIME_ANNOTATION,
  VGPU_MEMORY_RESOURCE,
} from '../contracts/index.ts';
import { ManualClock } from '../common/clock.ts';
import { openTestCluster, type TestCluster } from '../test/apiserver/cluster.ts';
import {
  CPU_ONLY_POLICY,
  gpuNodeFixture,
  postJson,
  startTestExtender,
  vgpuPodFixture,
} from '../test/support/extender.ts';
import type { SchedulerApp } from './app.ts';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
const POLICY = CPU_ONLY_POLICY;

describe('extender with vGPU pods', () => {
  let cluster: TestCluster;
  let app: SchedulerApp;
  let core: CoreV1Api;
  let base = '';
  const nodes: string[] = [];

  const gpuNode = (name: string): V1Node => gpuNodeFixture(name, 4, NOW);
  const gpuPod = (name: string, core: string, model?: string): V1Pod =>
    vgpuPodFixture(cluster.namespace, name, core, model);

  const post = <T>(path: string, body: unknown): Promise<T> => postJson<T>(base, path, body);

  before(async () => {
    cluster = await openTestCluster();
    for (const n of ['gpu-a', 'gpu-b']) {
      const name = cluster.unique(n);
      nodes.push(name);
      await cluster.createNode(gpuNode(name));
    }
    core = cluster.kubeConfig('setup').makeApiClient(CoreV1Api);
    ({ app, base } = await startTestExtender(cluster, POLICY, new ManualClock(NOW)));
  });
  after(async () => {
    await app.stop();
    await cluster.close();
  });

  it('filters on GPU fit and says why a node cannot host the pod', async () => {
    const big = await post<ExtenderFilterResult>('/filter', { Pod: gpuPod('big', '500'), NodeNames: nodes });
    assert.deepEqual(big.NodeNames, []);
    assert.equal(big.FailedNodes[nodes[0]!], 'needs 5 whole GPUs, 4 free');
    const h100 = await post<ExtenderFilterResult>('/filter', {
      Pod: gpuPod('h100', '30', 'H100'),
      NodeNames: nodes,
    });
    assert.equal(h100.FailedNodes[nodes[1]!], 'no healthy H100 GPU');
    const bad = await post<ExtenderFilterResult>('/filter', { Pod: gpuPod('bad', '150'), NodeNames: nodes });
    assert.match(bad.FailedNodes[nodes[0]!]!, /multiple of 100/);
  });

  it('binds a burst of 20 share pods without over-committing any GPU', async () => {
    const binds: Promise<{ Error: string }>[] = [];
    let rejected = 0;
    for (let i = 0; i < 20; i++) {
      const pod = gpuPod(`burst-${i}`, '40');
      await core.createNamespacedPod({ namespace: cluster.namespace, body: pod });
      const filtered = await post<ExtenderFilterResult>('/filter', { Pod: pod, NodeNames: nodes });
      if (filtered.NodeNames!.length === 0) {
        rejected++;
        continue;
      }
      const scores = await post<HostPriorityList>('/prioritize', { Pod: pod, NodeNames: filtered.NodeNames });
      const best = scores.reduce((a, b) => (b.Score > a.Score ? b : a));
      // kube-scheduler binds asynchronously while it schedules the next pod: do not await here.
      binds.push(
        post('/bind', {
          PodName: pod.metadata!.name,
          PodNamespace: cluster.namespace,
          PodUID: pod.metadata!.uid,
          Node: best.Host,
        }),
      );
    }
    const results = await Promise.all(binds);
    const failedBinds = results.filter((r) => r.Error !== '').length;
    // 8 GPUs hold two 40 % shares each.
    assert.equal(results.length - failedBinds, 16);
    assert.equal(rejected + failedBinds, 4);

    const pods = (await core.listNamespacedPod({ namespace: cluster.namespace })).items.filter(
      (p) => p.spec?.nodeName,
    );
    const used = new Map<string, number>();
    for (const p of pods) {
      const decoded = decodeVgpuAssignment(p.metadata!.annotations![VGPU_ASSIGNMENT_ANNOTATION]!);
      assert.ok(decoded.ok);
      assert.match(p.metadata!.annotations![VGPU_ASSUME_TIME_ANNOTATION]!, /^\d+$/);
      for (const share of decoded.assignment.containers.main!) {
        const key = `${p.spec!.nodeName}/${share.index}`;
        used.set(key, (used.get(key) ?? 0) + share.core);
        assert.equal(share.memoryMiB, 16 * 256);
      }
    }
    assert.equal(pods.length, 16);
    for (const [gpu, core] of used) assert.ok(core <= 100, `${gpu} over-committed: ${core}`);
  });

  it('refuses a bind the node can no longer take, instead of over-committing', async () => {
    const pod = gpuPod('late', '40');
    await core.createNamespacedPod({ namespace: cluster.namespace, body: pod });
    await post('/filter', { Pod: pod, NodeNames: nodes });
    const result = await post<{ Error: string }>('/bind', {
      PodName: 'late',
      PodNamespace: cluster.namespace,
      PodUID: pod.metadata!.uid,
      Node: nodes[0],
    });
    assert.match(result.Error, /can no longer take the pod: no GPU with 40 core/);
  });
});

describe('extender with a whole-GPU pod that asks for memory', () => {
  let cluster: TestCluster;
  let app: SchedulerApp;
  let base = '';
  let t4 = '';
  let a100 = '';

  const post = <T>(path: string, body: unknown): Promise<T> => postJson<T>(base, path, body);

  before(async () => {
    cluster = await openTestCluster();
    t4 = cluster.unique('t4');
    a100 = cluster.unique('a100');
    // Four idle 15 GiB T4s (60 GiB in all, more than the pod asks) and one 80 GiB A100.
    const t4Node = gpuNodeFixture(t4, 4, NOW);
    const inventory = decodeGpuInventory(t4Node.metadata!.annotations![GPU_INVENTORY_ANNOTATION]!);
    assert.ok(inventory.ok);
    t4Node.metadata!.annotations![GPU_INVENTORY_ANNOTATION] = encodeGpuInventory({
      gpus: inventory.inventory.gpus.map((g) => ({ ...g, model: 'T4', memoryMiB: 15_360 })),
    });
    await cluster.createNode(t4Node);
    await cluster.createNode(gpuNodeFixture(a100, 1, NOW));
    ({ app, base } = await startTestExtender(cluster, POLICY, new ManualClock(NOW)));
  });
  after(async () => {
    await app.stop();
    await cluster.close();
  });

  it('filters the node of small GPUs out, refuses a bind there, and binds on the big GPU', async () => {
    const pod = vgpuPodFixture(cluster.namespace, 'big-memory', '100');
    pod.spec!.containers[0]!.resources!.limits![VGPU_MEMORY_RESOURCE] = '160';
    await cluster
      .kubeConfig('setup')
      .makeApiClient(CoreV1Api)
      .createNamespacedPod({ namespace: cluster.namespace, body: pod });
    const filtered = await post<ExtenderFilterResult>('/filter', { Pod: pod, NodeNames: [t4, a100] });
    assert.deepEqual(filtered.NodeNames, [a100]);
    assert.match(filtered.FailedNodes[t4]!, /needs 1 whole GPU with at least 40960 MiB each, 0 free/);
    const scores = await post<HostPriorityList>('/prioritize', { Pod: pod, NodeNames: [t4, a100] });
    assert.deepEqual(
      scores.map((s) => s.Host === t4 && s.Score === 0),
      [true, false],
    );
    const bind = (node: string) =>
      post<{ Error: string }>('/bind', {
        PodName: 'big-memory',
        PodNamespace: cluster.namespace,
        PodUID: pod.metadata!.uid,
        Node: node,
      });
    assert.match(
      (await bind(t4)).Error,
      /can no longer take the pod: needs 1 whole GPU with at least 40960 MiB/,
    );
    assert.equal((await bind(a100)).Error, '');
  });
});

describe('extender with pods written for gpu-manager (tencent.com/vcuda-*)', () => {
  let cluster: TestCluster;
  let app: SchedulerApp;
  let base = '';
  let node = '';

  before(async () => {
    cluster = await openTestCluster();
    node = cluster.unique('vcuda');
    await cluster.createNode(gpuNodeFixture(node, 1, NOW));
    ({ app, base } = await startTestExtender(cluster, POLICY, new ManualClock(NOW)));
  });
  after(async () => {
    await app.stop();
    await cluster.close();
  });

  it('filters, binds and assigns GPUs for them exactly as for loadwise’s names', async () => {
    const core = cluster.kubeConfig('setup').makeApiClient(CoreV1Api);
    const pod: V1Pod = {
      metadata: { name: 'vcuda', namespace: cluster.namespace },
      spec: {
        schedulerName: 'loadwise-scheduler',
        containers: [
          {
            name: 'main',
            image: 'cuda',
            resources: { limits: { 'tencent.com/vcuda-core': '60', 'tencent.com/vcuda-memory': '20' } },
          },
        ],
      },
    };
    const created = await core.createNamespacedPod({ namespace: cluster.namespace, body: pod });
    const post = <T>(path: string, body: unknown): Promise<T> => postJson<T>(base, path, body);
    const filtered = await post<ExtenderFilterResult>('/filter', { Pod: created, NodeNames: [node] });
    assert.deepEqual(filtered.NodeNames, [node]);
    const bound = await post<{ Error: string }>('/bind', {
      PodName: 'vcuda',
      PodNamespace: cluster.namespace,
      PodUID: created.metadata!.uid,
      Node: node,
    });
    assert.equal(bound.Error, '');
    const after = await core.readNamespacedPod({ namespace: cluster.namespace, name: 'vcuda' });
    const decoded = decodeVgpuAssignment(after.metadata!.annotations![VGPU_ASSIGNMENT_ANNOTATION]!);
    assert.ok(decoded.ok);
    // 60 hundredths of the GPU, 20 × 256 MiB: gpu-manager's units.
    assert.deepEqual(decoded.assignment.containers.main, [{ index: 0, core: 60, memoryMiB: 5120 }]);
    // A second one no longer fits the one GPU's compute.
    const second = {
      ...pod,
      metadata: { name: 'vcuda-2', namespace: cluster.namespace, uid: 'uid-vcuda-2' },
    };
    const full = await post<ExtenderFilterResult>('/filter', { Pod: second, NodeNames: [node] });
    assert.deepEqual(full.NodeNames, []);
  });
});
