// `--gpu-policy fgd` (the default) through the extender's verbs, against the API-server double:
// the score follows the mix of requests seen lately, bind puts the shares on the GPU the rule
// chose, and a bind of a pod this extender never filtered still writes the assignment first.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type V1Node, type V1Pod } from '@kubernetes/client-node';
import {
  decodeVgpuAssignment,
  encodeVgpuAssignment,
  type ExtenderFilterResult,
  type HostPriorityList,
  VGPU_ASSIGNMENT_ANNOTATION,
  VGPU_ASSUME_TIME_ANNOTATION,
} from '../contracts/index.ts';
import { ManualClock } from '../common/clock.ts';
import { openTestCluster, type TestCluster } from '../test/apiserver/cluster.ts';
import { gpuNodeFixture, postJson, startTestExtender, vgpuPodFixture } from '../test/support/extender.ts';
import type { SchedulerApp } from './app.ts';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
const POLICY = `
apiVersion: loadwise.io/v1alpha1
kind: SchedulerPolicy
syncPolicy: [{name: cpu_usage_avg_5m, period: 3m}]
predicate: [{name: cpu_usage_avg_5m, maxLimitPercent: 0.65}]
priority: [{name: cpu_usage_avg_5m, weight: 1}]
`;

describe('extender with --gpu-policy fgd', () => {
  let cluster: TestCluster;
  let core: CoreV1Api;
  /** Two extenders over the same cluster: one has seen half-GPU pods lately, the other whole-GPU pods. */
  const halves = { app: undefined as unknown as SchedulerApp, base: '' };
  const wholes = { app: undefined as unknown as SchedulerApp, base: '' };
  // holey: GPU 0 has half left, GPU 1 is taken. whole: both GPUs free. Same load on both.
  let holey = '';
  let whole = '';

  const gpuNode = (name: string): V1Node => gpuNodeFixture(name, 2, NOW);
  const gpuPod = (name: string, vgpuCore: string): V1Pod => vgpuPodFixture(cluster.namespace, name, vgpuCore);

  /** A running pod on `node` holding `shares`, as an earlier bind recorded it. */
  const holder = (name: string, node: string, index: number, vgpuCore: number): V1Pod => ({
    metadata: {
      name,
      namespace: cluster.namespace,
      annotations: {
        [VGPU_ASSIGNMENT_ANNOTATION]: encodeVgpuAssignment({
          containers: { main: [{ index, core: vgpuCore, memoryMiB: (81920 * vgpuCore) / 100 }] },
        }),
      },
    },
    spec: { nodeName: node, containers: [{ name: 'main', image: 'cuda' }] },
  });

  const post = postJson;
  const scores = async (base: string, pod: V1Pod) => {
    const list = await post<HostPriorityList>(base, '/prioritize', { Pod: pod, NodeNames: [holey, whole] });
    return Object.fromEntries(list.map((h) => [h.Host, h.Score]));
  };
  const assignment = async (name: string) => {
    const pod = await core.readNamespacedPod({ name, namespace: cluster.namespace });
    const annotations = pod.metadata?.annotations ?? {};
    const decoded = decodeVgpuAssignment(annotations[VGPU_ASSIGNMENT_ANNOTATION] ?? '');
    assert.ok(decoded.ok, `${name} has no GPU assignment`);
    assert.match(annotations[VGPU_ASSUME_TIME_ANNOTATION] ?? '', /^\d+$/);
    return { node: pod.spec?.nodeName, shares: decoded.assignment.containers.main };
  };

  before(async () => {
    cluster = await openTestCluster();
    core = cluster.kubeConfig('setup').makeApiClient(CoreV1Api);
    holey = cluster.unique('holey');
    whole = cluster.unique('whole');
    for (const name of [holey, whole]) await cluster.createNode(gpuNode(name));
    for (const pod of [holder('hold-half', holey, 0, 50), holder('hold-whole', holey, 1, 100)]) {
      await core.createNamespacedPod({ namespace: cluster.namespace, body: pod });
    }
    for (const [extender, vgpuCore] of [
      [halves, '50'],
      [wholes, '100'],
    ] as const) {
      Object.assign(extender, await startTestExtender(cluster, POLICY, new ManualClock(NOW)));
      // What this extender has seen lately: 20 pods of one size (filter records them).
      for (let i = 0; i < 20; i++) {
        await post(extender.base, '/filter', {
          Pod: gpuPod(`seen-${vgpuCore}-${i}`, vgpuCore),
          NodeNames: [holey, whole],
        });
      }
    }
  });
  after(async () => {
    await halves.app.stop();
    await wholes.app.stop();
    await cluster.close();
  });

  it('keeps a half-GPU hole for the half-GPU pods that keep coming: a 0.3 pod goes to a whole GPU', async () => {
    const s = await scores(halves.base, gpuPod('small-a', '30'));
    assert.ok(s[whole]! > s[holey]!, JSON.stringify(s));
  });

  it('when whole-GPU pods dominate, a 0.3 or 0.5 pod fills the hole and the whole GPUs stay whole', async () => {
    const small = await scores(wholes.base, gpuPod('small-b', '30'));
    assert.ok(small[holey]! > small[whole]!, JSON.stringify(small));

    const half = gpuPod('half', '50');
    await core.createNamespacedPod({ namespace: cluster.namespace, body: half });
    const filtered = await post<ExtenderFilterResult>(wholes.base, '/filter', {
      Pod: half,
      NodeNames: [holey, whole],
    });
    assert.deepEqual(filtered.NodeNames, [holey, whole]);
    const s = await scores(wholes.base, half);
    assert.ok(s[holey]! > s[whole]!, JSON.stringify(s));
    const bound = await post<{ Error: string }>(wholes.base, '/bind', {
      PodName: 'half',
      PodNamespace: cluster.namespace,
      PodUID: half.metadata!.uid,
      Node: holey,
    });
    assert.equal(bound.Error, '');
    // On the GPU with the hole, the only one there that fits.
    assert.deepEqual(await assignment('half'), {
      node: holey,
      shares: [{ index: 0, core: 50, memoryMiB: 16 * 256 }],
    });
  });

  it('binds a pod another replica filtered (or filtered before a restart) with its assignment written first', async () => {
    const pod = gpuPod('direct', '40');
    const created = await core.createNamespacedPod({ namespace: cluster.namespace, body: pod });
    // The half-mix extender filtered it; the whole-mix one, which never saw it, binds it.
    await post(halves.base, '/filter', { Pod: created, NodeNames: [holey, whole] });
    const bound = await post<{ Error: string }>(wholes.base, '/bind', {
      PodName: 'direct',
      PodNamespace: cluster.namespace,
      PodUID: created.metadata!.uid,
      Node: whole,
    });
    assert.equal(bound.Error, '');
    const placed = await assignment('direct');
    assert.equal(placed.node, whole);
    assert.equal(placed.shares?.length, 1);
    assert.equal(placed.shares![0]!.core, 40);
    assert.equal(placed.shares![0]!.memoryMiB, 16 * 256);
  });

  it('refuses to bind a pod that does not exist', async () => {
    const result = await post<{ Error: string }>(wholes.base, '/bind', {
      PodName: 'never-created',
      PodNamespace: cluster.namespace,
      PodUID: 'uid-never-created',
      Node: whole,
    });
    assert.match(result.Error, /binding .*never-created to .*: refused: the pod does not exist/);
  });
});
