// /bind trusts the API server, not the caller: the attacks of issue 13 performed against the
// extender over HTTP, each refused with the extender protocol's error and counted by reason, and
// the victim pod left as it was.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, PatchStrategy, setHeaderOptions, type V1Pod, Watch } from '@kubernetes/client-node';
import {
  type BindRefusalReason,
  decodeVgpuAssignment,
  EXTENDER_METRICS,
  type ExtenderBindingArgs,
  type ExtenderFilterResult,
  VGPU_ASSIGNMENT_ANNOTATION,
  VGPU_ASSUME_TIME_ANNOTATION,
} from '../contracts/index.ts';
import { ManualClock } from '../common/clock.ts';
import { openTestCluster, type TestCluster } from '../test/apiserver/cluster.ts';
import { CPU_POLICY, gpuNodeFixture, startTestExtender, vgpuPodFixture } from '../test/support/extender.ts';
import type { SchedulerApp } from './app.ts';

const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);

describe('extender /bind trusts the API server, not the caller', () => {
  let cluster: TestCluster;
  let core: CoreV1Api;
  let app: SchedulerApp;
  let base = '';
  let node = '';

  const post = async <T>(path: string, body: unknown, at = base): Promise<T> => {
    const res = await fetch(`${at}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    assert.equal(res.status, 200, `${path} answered ${res.status}`);
    return (await res.json()) as T;
  };
  const bind = (args: ExtenderBindingArgs, at = base) => post<{ Error: string }>('/bind', args, at);
  /** What kube-scheduler sends to bind `pod` (as the API server stored it) to `target`. */
  const argsOf = (pod: V1Pod, target = node): ExtenderBindingArgs => ({
    PodName: pod.metadata!.name!,
    PodNamespace: cluster.namespace,
    PodUID: pod.metadata!.uid!,
    Node: target,
  });
  /** Creates `pod` and returns it as the API server stored it (with the UID it assigned). */
  const create = async (pod: V1Pod) => core.createNamespacedPod({ namespace: cluster.namespace, body: pod });
  const nodeOf = async (name: string) =>
    (await core.readNamespacedPod({ name, namespace: cluster.namespace })).spec?.nodeName;
  const refusals = async (reason: BindRefusalReason) => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const m = new RegExp(`^${EXTENDER_METRICS.bindRefusals}\\{reason="${reason}"\\} (\\d+)`, 'm').exec(text);
    return m ? Number(m[1]) : 0;
  };

  before(async () => {
    cluster = await openTestCluster();
    core = cluster.kubeConfig('setup').makeApiClient(CoreV1Api);
    node = cluster.unique('gpu');
    await cluster.createNode(gpuNodeFixture(node, 2, NOW));
    ({ app, base } = await startTestExtender(cluster, CPU_POLICY, new ManualClock(NOW)));
  });
  after(async () => {
    await app.stop();
    await cluster.close();
  });

  it("refuses another scheduler's pending pod named without a UID, and leaves it pending", async () => {
    // The attack as filed: a pod of the default scheduler, an empty UID, a node of the caller's choice.
    const victim = await create({
      metadata: { name: 'victim', namespace: cluster.namespace },
      spec: { containers: [{ name: 'c', image: 'busybox' }] },
    });
    const result = await bind({ PodName: 'victim', PodNamespace: cluster.namespace, PodUID: '', Node: node });
    assert.equal(
      result.Error,
      `binding ${cluster.namespace}/victim to ${node}: refused: PodUID is empty; the extender binds only a pod named with its UID`,
    );
    // With its real UID too: the pod belongs to default-scheduler (the API server's default).
    const named = await bind({
      PodName: 'victim',
      PodNamespace: cluster.namespace,
      PodUID: victim.metadata!.uid!,
      Node: node,
    });
    assert.match(
      named.Error,
      /refused: the pod's schedulerName is "default-scheduler"; this extender binds pods of "loadwise-scheduler"/,
    );
    assert.equal(await nodeOf('victim'), undefined);
    assert.equal(await refusals('empty_uid'), 1);
    assert.equal(await refusals('scheduler_name'), 1);
  });

  it('refuses a pod that is not there, a UID that is not the pod’s, and a pod already bound', async () => {
    const missing = await bind({
      PodName: 'ghost',
      PodNamespace: cluster.namespace,
      PodUID: 'u-1',
      Node: node,
    });
    assert.match(missing.Error, /refused: the pod does not exist/);

    const pod = await create(vgpuPodFixture(cluster.namespace, 'mine', '30'));
    const wrong = await bind({
      PodName: 'mine',
      PodNamespace: cluster.namespace,
      PodUID: 'forged',
      Node: node,
    });
    assert.match(wrong.Error, new RegExp(`refused: the pod's UID is ${pod.metadata!.uid}, not forged`));
    assert.equal(await nodeOf('mine'), undefined);

    const args = { PodName: 'mine', PodNamespace: cluster.namespace, PodUID: pod.metadata!.uid!, Node: node };
    assert.equal((await bind(args)).Error, '');
    const again = await bind({ ...args, Node: 'elsewhere' });
    assert.match(again.Error, new RegExp(`refused: the pod is already bound to node ${node}`));
    assert.equal(await nodeOf('mine'), node);
    assert.equal(await refusals('not_found'), 1);
    assert.equal(await refusals('uid_mismatch'), 1);
    assert.equal(await refusals('already_bound'), 1);
  });

  it('places GPUs from the pod the API server has, not from a forged /filter body', async () => {
    const real = await create(vgpuPodFixture(cluster.namespace, 'whole', '100'));
    // The attack: a /filter with the real pod's name and UID, asking for a tenth of a GPU.
    const forged = vgpuPodFixture(cluster.namespace, 'whole', '10');
    forged.metadata!.uid = real.metadata!.uid;
    const filtered = await post<ExtenderFilterResult>('/filter', { Pod: forged, NodeNames: [node] });
    assert.deepEqual(filtered.NodeNames, [node]);
    const result = await bind({
      PodName: 'whole',
      PodNamespace: cluster.namespace,
      PodUID: real.metadata!.uid!,
      Node: node,
    });
    assert.equal(result.Error, '');
    const stored = await core.readNamespacedPod({ name: 'whole', namespace: cluster.namespace });
    const decoded = decodeVgpuAssignment(stored.metadata!.annotations![VGPU_ASSIGNMENT_ANNOTATION]!);
    assert.ok(decoded.ok);
    assert.deepEqual(
      decoded.assignment.containers.main!.map((s) => s.core),
      [100],
    );
  });

  it('binds the pods of every --scheduler-name it serves, and only those', async () => {
    const other = await startTestExtender(cluster, CPU_POLICY, new ManualClock(NOW), {
      schedulerNames: ['team-a', 'team-b'],
    });
    try {
      const ofB = vgpuPodFixture(cluster.namespace, 'of-b', '20');
      ofB.spec!.schedulerName = 'team-b';
      const b = await create(ofB);
      const ofDefault = await create(vgpuPodFixture(cluster.namespace, 'of-default', '20'));
      const args = (p: V1Pod) => ({
        PodName: p.metadata!.name!,
        PodNamespace: cluster.namespace,
        PodUID: p.metadata!.uid!,
        Node: node,
      });
      assert.equal((await bind(args(b), other.base)).Error, '');
      assert.match(
        (await bind(args(ofDefault), other.base)).Error,
        /schedulerName is "loadwise-scheduler"; this extender binds pods of "team-a", "team-b"/,
      );
    } finally {
      await other.app.stop();
    }
  });

  it('the API server refuses a Binding or annotation patch whose UID is not the pod’s (a pod recreated meanwhile)', async () => {
    const pod = await create(vgpuPodFixture(cluster.namespace, 'recreated', '20'));
    await assert.rejects(
      core.createNamespacedPodBinding({
        name: 'recreated',
        namespace: cluster.namespace,
        body: {
          metadata: { name: 'recreated', uid: 'the-old-one' },
          target: { apiVersion: 'v1', kind: 'Node', name: node },
        },
      }),
      (err: { code?: number; body?: string }) =>
        err.code === 409 && /Precondition failed: UID in precondition: the-old-one/.test(String(err.body)),
    );
    await assert.rejects(
      core.patchNamespacedPod(
        {
          name: 'recreated',
          namespace: cluster.namespace,
          body: { metadata: { uid: 'the-old-one', annotations: { [VGPU_ASSIGNMENT_ANNOTATION]: 'x' } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      ),
      (err: { code?: number; body?: string }) =>
        err.code === 422 &&
        /metadata.uid: Invalid value: .*the-old-one.*field is immutable/.test(String(err.body)),
    );
    const stored = await core.readNamespacedPod({ name: 'recreated', namespace: cluster.namespace });
    assert.equal(stored.spec?.nodeName, undefined);
    assert.equal(stored.metadata?.annotations?.[VGPU_ASSIGNMENT_ANNOTATION], undefined);
    assert.equal(stored.metadata?.uid, pod.metadata?.uid);
  });

  it('decides on its pending-pod watch, and a stale record still binds nothing wrong', async () => {
    // Created before this extender starts: its first list puts them in its pending-pod cache.
    const recreated = await create(vgpuPodFixture(cluster.namespace, 'stale-recreated', '20'));
    const taken = await create(vgpuPodFixture(cluster.namespace, 'stale-taken', '20'));
    const gone = await create(vgpuPodFixture(cluster.namespace, 'stale-gone', '20'));
    const fresh = await create(vgpuPodFixture(cluster.namespace, 'stale-fresh', '20'));
    const ofDefault = vgpuPodFixture(cluster.namespace, 'stale-default', '20');
    ofDefault.spec!.schedulerName = 'default-scheduler';
    const foreign = await create(ofDefault);
    const other = await startTestExtender(cluster, CPU_POLICY, new ManualClock(NOW));
    const uid = (p: V1Pod) => p.metadata!.uid!;
    try {
      const cache = other.app.pending;
      for (const p of [recreated, taken, gone, fresh]) {
        assert.ok(cache.get(cluster.namespace, p.metadata!.name!, uid(p)), `${p.metadata!.name} is cached`);
      }
      assert.equal(
        cache.get(cluster.namespace, 'stale-default', uid(foreign)),
        undefined,
        'only served schedulers',
      );
      assert.equal(
        cache.get(cluster.namespace, 'stale-fresh', 'another-uid'),
        undefined,
        'only with the UID named',
      );
      // A cached pod binds, and its record goes at once.
      assert.equal((await bind(argsOf(fresh), other.base)).Error, '');
      assert.equal(cache.get(cluster.namespace, 'stale-fresh', uid(fresh)), undefined);

      // Freeze the cache: from here on the API server changes pods behind its back.
      await cache.stop();
      await core.deleteNamespacedPod({ name: 'stale-recreated', namespace: cluster.namespace });
      const second = vgpuPodFixture(cluster.namespace, 'stale-recreated', '20');
      delete second.metadata!.uid;
      const successor = await create(second);
      assert.notEqual(uid(successor), uid(recreated));
      await core.createNamespacedPodBinding({
        name: 'stale-taken',
        namespace: cluster.namespace,
        body: {
          metadata: { name: 'stale-taken', uid: uid(taken) },
          target: { apiVersion: 'v1', kind: 'Node', name: 'elsewhere' },
        },
      });
      await core.deleteNamespacedPod({ name: 'stale-gone', namespace: cluster.namespace });

      const held = () =>
        [...(other.app.ledger.usage(node)?.values() ?? [])].reduce((sum, u) => sum + u.core, 0);
      const heldBefore = held();
      // The stale record passes the guard; the Binding's UID makes the API server refuse.
      const old = await bind(argsOf(recreated), other.base);
      assert.match(old.Error, /Precondition failed: UID in precondition: /);
      const now = await core.readNamespacedPod({ name: 'stale-recreated', namespace: cluster.namespace });
      assert.equal(now.spec?.nodeName, undefined);
      assert.equal(now.metadata?.annotations?.[VGPU_ASSIGNMENT_ANNOTATION], undefined);

      const late = await bind(argsOf(taken), other.base);
      assert.match(late.Error, /pod stale-taken is already assigned to node "elsewhere"/);
      assert.equal(await nodeOf('stale-taken'), 'elsewhere');
      // The refusal dropped the record: the next try reads the pod, and the guard refuses it.
      const again = await bind(argsOf(taken), other.base);
      assert.match(again.Error, /refused: the pod is already bound to node elsewhere/);

      const missing = await bind(argsOf(gone), other.base);
      assert.match(missing.Error, /pods "stale-gone" not found/);
      // No GPU stays held for the refused binds.
      assert.equal(held(), heldBefore);
    } finally {
      await other.app.stop();
    }
  });

  it('writes the GPU assignment in the Binding: no watcher sees the pod bound without it', async () => {
    const pod = await create(vgpuPodFixture(cluster.namespace, 'atomic', '30'));
    const events: V1Pod[] = [];
    let onBound: () => void = () => {};
    const boundSeen = new Promise<void>((resolve) => (onBound = resolve));
    const request = await new Watch(cluster.kubeConfig('setup')).watch(
      `/api/v1/namespaces/${cluster.namespace}/pods`,
      { fieldSelector: 'metadata.name=atomic', resourceVersion: pod.metadata!.resourceVersion! },
      (_type: string, object: V1Pod) => {
        events.push(object);
        if (object.spec?.nodeName) onBound();
      },
      () => {},
    );
    try {
      assert.equal((await bind(argsOf(pod))).Error, '');
      await boundSeen;
    } finally {
      request.abort();
    }
    assert.equal(events.length, 1, 'one write: the Binding');
    const [bound] = events;
    assert.equal(bound!.spec?.nodeName, node);
    const decoded = decodeVgpuAssignment(bound!.metadata!.annotations![VGPU_ASSIGNMENT_ANNOTATION]!);
    assert.ok(decoded.ok);
    assert.match(bound!.metadata!.annotations![VGPU_ASSUME_TIME_ANNOTATION]!, /^\d+$/);
  });
});
