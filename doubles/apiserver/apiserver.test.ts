// The API-server double, exercised through the real @kubernetes/client-node over HTTP.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  PatchStrategy,
  Watch,
  setHeaderOptions,
} from '@kubernetes/client-node';
import { kubeConfigFor, writeKubeconfig } from './kubeconfig.ts';
import { type Json, jsonPatch, mergePatch, strategicMergePatch } from './patch.ts';
import { ApiServerDouble } from './server.ts';

interface StatusLike {
  kind?: string;
  apiVersion?: string;
  status?: string;
  reason?: string;
  code?: number;
  message?: string;
}

async function apiError(promise: Promise<unknown>): Promise<{ code: number; body: StatusLike }> {
  try {
    await promise;
  } catch (err: unknown) {
    assert.ok(err instanceof ApiException, `expected an ApiException, got ${String(err)}`);
    const body =
      typeof err.body === 'string' ? (JSON.parse(err.body) as StatusLike) : (err.body as StatusLike);
    return { code: err.code, body };
  }
  assert.fail('expected the call to fail');
}

const merge = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);
const strategic = setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch);

interface Event {
  type: string;
  name: string;
  rv: string;
  code?: number;
}

/** Opens a watch and collects its events; `next(n)` resolves once n events have arrived. */
async function collect(kc: KubeConfig, path: string, query: Record<string, string>) {
  const events: Event[] = [];
  let waiters: Array<() => void> = [];
  let done: (err: unknown) => void = () => {};
  const ended = new Promise<unknown>((resolve) => {
    done = resolve;
  });
  const controller = await new Watch(kc).watch(
    path,
    query,
    (type, obj: { metadata?: { name?: string; resourceVersion?: string }; code?: number }) => {
      events.push({
        type,
        name: obj.metadata?.name ?? '',
        rv: obj.metadata?.resourceVersion ?? '',
        code: obj.code,
      });
      for (const w of waiters) w();
    },
    (err) => done(err),
  );
  const next = async (n: number): Promise<Event[]> => {
    const deadline = Date.now() + 5000;
    while (events.length < n) {
      assert.ok(Date.now() < deadline, `timed out waiting for ${n} events, got ${JSON.stringify(events)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 100);
        waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
      waiters = [];
    }
    return events.slice(0, n);
  };
  return { events, next, ended, stop: () => controller.abort() };
}

describe('API-server double', () => {
  let double: ApiServerDouble;
  let kc: KubeConfig;
  let core: CoreV1Api;

  before(async () => {
    double = await ApiServerDouble.start();
    kc = kubeConfigFor(double.url);
    core = kc.makeApiClient(CoreV1Api);
  });
  after(() => double.close());

  test('create, get and list nodes with a list resourceVersion', async () => {
    const created = await core.createNode({
      body: {
        metadata: { name: 'n1', labels: { zone: 'a' } },
        status: { addresses: [{ type: 'InternalIP', address: '10.0.0.1' }] },
      },
    });
    assert.equal(created.kind, 'Node');
    assert.ok(created.metadata?.uid);
    assert.ok(Number(created.metadata?.resourceVersion) > 0);
    await core.createNode({ body: { metadata: { name: 'n2', labels: { zone: 'b' } } } });
    const got = await core.readNode({ name: 'n1' });
    assert.equal(got.status?.addresses?.[0]?.address, '10.0.0.1');
    const list = await core.listNode();
    assert.deepEqual(
      list.items.map((n) => n.metadata?.name),
      ['n1', 'n2'],
    );
    assert.equal(list.metadata?.resourceVersion, String(double.resourceVersion));
    const zoneA = await core.listNode({ labelSelector: 'zone in (a,c)' });
    assert.deepEqual(
      zoneA.items.map((n) => n.metadata?.name),
      ['n1'],
    );
    const paged = await core.listNode({ limit: 1 });
    assert.equal(paged.items.length, 1);
    const rest = await core.listNode({ limit: 1, _continue: paged.metadata?._continue });
    assert.deepEqual(
      rest.items.map((n) => n.metadata?.name),
      ['n2'],
    );
  });

  test('errors are Status objects: 404, 409 AlreadyExists, 422, 400', async () => {
    const missing = await apiError(core.readNode({ name: 'nope' }));
    assert.equal(missing.code, 404);
    assert.deepEqual(
      {
        kind: missing.body.kind,
        apiVersion: missing.body.apiVersion,
        status: missing.body.status,
        reason: missing.body.reason,
        code: missing.body.code,
      },
      { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 },
    );
    assert.equal(missing.body.message, 'nodes "nope" not found');
    const exists = await apiError(core.createNode({ body: { metadata: { name: 'n1' } } }));
    assert.equal(exists.code, 409);
    assert.equal(exists.body.reason, 'AlreadyExists');
    const invalid = await apiError(core.createNode({ body: { metadata: { name: 'Not_Valid' } } }));
    assert.equal(invalid.code, 422);
    assert.equal(invalid.body.reason, 'Invalid');
    const badSelector = await apiError(core.listNode({ labelSelector: 'a in (b' }));
    assert.equal(badSelector.code, 400);
    assert.equal(badSelector.body.reason, 'BadRequest');
  });

  test('merge and strategic merge patches on annotations; a stale resourceVersion is a 409 Conflict', async () => {
    const before = await core.readNode({ name: 'n1' });
    const patched = await core.patchNode(
      {
        name: 'n1',
        body: { metadata: { annotations: { 'loadwise.io/a': '0.10000,2026-01-01T00:00:00Z', keep: 'x' } } },
      },
      merge,
    );
    assert.equal(patched.metadata?.annotations?.['loadwise.io/a'], '0.10000,2026-01-01T00:00:00Z');
    assert.ok(Number(patched.metadata?.resourceVersion) > Number(before.metadata?.resourceVersion));
    const removed = await core.patchNode(
      { name: 'n1', body: { metadata: { annotations: { keep: null } } } },
      strategic,
    );
    assert.deepEqual(removed.metadata?.annotations, { 'loadwise.io/a': '0.10000,2026-01-01T00:00:00Z' });
    assert.equal(
      removed.status?.addresses?.[0]?.address,
      '10.0.0.1',
      'a patch leaves the rest of the object',
    );

    const stale = await apiError(
      core.patchNode(
        {
          name: 'n1',
          body: { metadata: { resourceVersion: before.metadata!.resourceVersion!, annotations: { b: '1' } } },
        },
        merge,
      ),
    );
    assert.equal(stale.code, 409);
    assert.equal(stale.body.reason, 'Conflict');
    const current = await core.readNode({ name: 'n1' });
    current.metadata!.labels = { zone: 'c' };
    const replaced = await core.replaceNode({ name: 'n1', body: current });
    assert.equal(replaced.metadata?.labels?.zone, 'c');
    const conflict = await apiError(core.replaceNode({ name: 'n1', body: current }));
    assert.equal(conflict.code, 409);
    const unchanged = await core.patchNode(
      { name: 'n1', body: { metadata: { labels: { zone: 'c' } } } },
      merge,
    );
    assert.equal(
      unchanged.metadata?.resourceVersion,
      replaced.metadata?.resourceVersion,
      'a no-op patch keeps the resourceVersion',
    );
  });

  test('watch from a resourceVersion replays what came after it, then streams', async () => {
    const list = await core.listNode();
    await core.patchNode({ name: 'n2', body: { metadata: { annotations: { x: '1' } } } }, merge);
    const w = await collect(kc, '/api/v1/nodes', { resourceVersion: list.metadata!.resourceVersion! });
    await w.next(1);
    await core.createNode({ body: { metadata: { name: 'n3' } } });
    await core.deleteNode({ name: 'n3' });
    const events = await w.next(3);
    assert.deepEqual(
      events.map((e) => `${e.type} ${e.name}`),
      ['MODIFIED n2', 'ADDED n3', 'DELETED n3'],
    );
    assert.ok(Number(events[2]!.rv) > Number(events[1]!.rv));
    w.stop();
    const b = await collect(kc, '/api/v1/nodes', {
      resourceVersion: String(double.resourceVersion),
      allowWatchBookmarks: 'true',
    });
    assert.ok(double.sendBookmarks() >= 1);
    const [bookmark] = await b.next(1);
    assert.deepEqual(bookmark, {
      type: 'BOOKMARK',
      name: '',
      rv: String(double.resourceVersion),
      code: undefined,
    });
    b.stop();
  });

  test('a watch from a compacted resourceVersion gets a 410 Gone ERROR event', async () => {
    const list = await core.listNode();
    await core.patchNode({ name: 'n2', body: { metadata: { annotations: { x: '2' } } } }, merge);
    double.compact();
    const w = await collect(kc, '/api/v1/nodes', { resourceVersion: list.metadata!.resourceVersion! });
    const [gone] = await w.next(1);
    assert.equal(gone!.type, 'ERROR');
    assert.equal(gone!.code, 410);
    await w.ended;
  });

  test('watches with a field selector see pods arrive on a node, and dropped or expired watches end', async () => {
    const ns = 'w1';
    await core.createNamespace({ body: { metadata: { name: ns } } });
    const list = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=n1' });
    const w = await collect(kc, '/api/v1/pods', {
      resourceVersion: list.metadata!.resourceVersion!,
      fieldSelector: 'spec.nodeName=n1',
    });
    await core.createNamespacedPod({
      namespace: ns,
      body: { metadata: { name: 'p1' }, spec: { containers: [{ name: 'c', image: 'i' }] } },
    });
    await core.createNamespacedPodBinding({
      namespace: ns,
      name: 'p1',
      body: { metadata: { name: 'p1' }, target: { kind: 'Node', name: 'n1' } },
    });
    const [added] = await w.next(1);
    assert.equal(`${added!.type} ${added!.name}`, 'ADDED p1', 'a pod that starts matching arrives as ADDED');
    const pod = await core.readNamespacedPod({ namespace: ns, name: 'p1' });
    assert.equal(pod.spec?.nodeName, 'n1');
    assert.equal(pod.status?.conditions?.find((c) => c.type === 'PodScheduled')?.status, 'True');
    const again = await apiError(
      core.createNamespacedPodBinding({
        namespace: ns,
        name: 'p1',
        body: { metadata: { name: 'p1' }, target: { name: 'n2' } },
      }),
    );
    assert.equal(again.code, 409);
    const onNode = await core.listPodForAllNamespaces({ fieldSelector: 'spec.nodeName=n1' });
    assert.deepEqual(
      onNode.items.map((p) => p.metadata?.name),
      ['p1'],
    );

    assert.equal(double.faults.dropWatches('pods'), 1);
    await w.ended;
    const w2 = await collect(kc, '/api/v1/nodes', {});
    await w2.next(2);
    assert.equal(double.faults.expireWatches('nodes'), 1);
    const events = await w2.next(3);
    assert.equal(events[2]!.type, 'ERROR');
    assert.equal(events[2]!.code, 410);
    await w2.ended;
  });

  test('core/v1 Events: created in the namespace of the involved object, refused elsewhere with a 422', async () => {
    await core.createNamespace({ body: { metadata: { name: 'ev' } } });
    const involvedObject = { kind: 'Pod', apiVersion: 'v1', namespace: 'ev', name: 'p', uid: 'u1' };
    const created = await core.createNamespacedEvent({
      namespace: 'ev',
      body: {
        metadata: { name: 'p.1' },
        involvedObject,
        reason: 'Testing',
        message: 'hello',
        type: 'Warning',
        source: { component: 'test' },
      },
    });
    assert.equal(created.involvedObject.uid, 'u1');
    const listed = await core.listNamespacedEvent({ namespace: 'ev' });
    assert.deepEqual(
      listed.items.map((e) => e.reason),
      ['Testing'],
    );
    const wrongNs = await apiError(
      core.createNamespacedEvent({
        namespace: 'default',
        body: { metadata: { name: 'p.2' }, involvedObject, reason: 'Testing' },
      }),
    );
    assert.equal(wrongNs.code, 422);
    assert.match(
      wrongNs.body.message!,
      /involvedObject.namespace: Invalid value: "ev": does not match event.namespace/,
    );
    const newStyle = await apiError(
      core.createNamespacedEvent({
        namespace: 'ev',
        body: {
          metadata: { name: 'p.3' },
          involvedObject,
          eventTime: new Date() as never,
          reason: 'Testing',
        },
      }),
    );
    assert.equal(newStyle.code, 422);
    assert.match(newStyle.body.message!, /reportingController: Required value/);
  });

  test('a delete with a UID precondition that does not match is a 409 and deletes nothing', async () => {
    const pod = await core.createNamespacedPod({
      namespace: 'default',
      body: { metadata: { name: 'pre' }, spec: { containers: [{ name: 'c', image: 'i' }] } },
    });
    const stale = await apiError(
      core.deleteNamespacedPod({
        namespace: 'default',
        name: 'pre',
        body: { preconditions: { uid: 'other' } },
      }),
    );
    assert.equal(stale.code, 409);
    assert.match(stale.body.message!, /Precondition failed: UID in precondition: other/);
    await core.deleteNamespacedPod({
      namespace: 'default',
      name: 'pre',
      body: { preconditions: { uid: pod.metadata!.uid! } },
    });
    assert.equal((await apiError(core.readNamespacedPod({ namespace: 'default', name: 'pre' }))).code, 404);
  });

  test('a Binding merges its annotations onto the pod with the node, or refuses whole like kube-apiserver', async () => {
    const pod = await core.createNamespacedPod({
      namespace: 'default',
      body: {
        metadata: { name: 'annotated', annotations: { keep: 'a', over: 'old' } },
        spec: { containers: [{ name: 'c', image: 'i' }] },
      },
    });
    const binding = (uid: string, annotations: Record<string, unknown>) =>
      core.createNamespacedPodBinding({
        namespace: 'default',
        name: 'annotated',
        body: {
          metadata: { name: 'annotated', uid, annotations: annotations as Record<string, string> },
          target: { kind: 'Node', name: 'n1' },
        },
      });
    // A UID that is not the pod's: the storage precondition, as a Conflict on "pods" with its text.
    const stale = await apiError(binding('other', { over: 'stale' }));
    assert.equal(stale.code, 409);
    assert.equal(
      stale.body.message,
      'Operation cannot be fulfilled on pods "annotated": StorageError: invalid object, Code: 4, Key: /registry/pods/default/annotated, ResourceVersion: 0, AdditionalErrorMsg: Precondition failed: UID in precondition: other, UID in object meta: ' +
        pod.metadata!.uid!,
    );
    assert.equal(
      (await apiError(binding(pod.metadata!.uid!, { over: 7 }))).code,
      400,
      'annotation values are strings',
    );
    const untouched = await core.readNamespacedPod({ namespace: 'default', name: 'annotated' });
    assert.equal(untouched.spec?.nodeName, undefined);
    assert.deepEqual(untouched.metadata?.annotations, { keep: 'a', over: 'old' });

    await binding(pod.metadata!.uid!, { over: 'new', add: 'x' });
    const bound = await core.readNamespacedPod({ namespace: 'default', name: 'annotated' });
    assert.equal(bound.spec?.nodeName, 'n1');
    assert.deepEqual(bound.metadata?.annotations, { keep: 'a', over: 'new', add: 'x' });
    assert.equal(Number(bound.metadata!.resourceVersion) > Number(pod.metadata!.resourceVersion), true);
    const again = await apiError(binding(pod.metadata!.uid!, { over: 'again' }));
    assert.equal(again.code, 409);
    assert.equal(
      again.body.message,
      'Operation cannot be fulfilled on pods/binding "annotated": pod annotated is already assigned to node "n1"',
    );
    assert.equal(
      (await core.readNamespacedPod({ namespace: 'default', name: 'annotated' })).metadata?.annotations?.over,
      'new',
    );
  });

  test('leases and endpointslices', async () => {
    const coord = kc.makeApiClient(CoordinationV1Api);
    const lease = await coord.createNamespacedLease({
      namespace: 'w1',
      body: { metadata: { name: 'l' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } },
    });
    lease.spec!.holderIdentity = 'b';
    const taken = await coord.replaceNamespacedLease({ namespace: 'w1', name: 'l', body: lease });
    assert.equal(taken.spec?.holderIdentity, 'b');
    const lost = await apiError(coord.replaceNamespacedLease({ namespace: 'w1', name: 'l', body: lease }));
    assert.equal(lost.code, 409);
    const discovery = kc.makeApiClient(DiscoveryV1Api);
    await discovery.createNamespacedEndpointSlice({
      namespace: 'w1',
      body: {
        metadata: { name: 'agents-1', labels: { 'kubernetes.io/service-name': 'agents' } },
        addressType: 'IPv4',
        endpoints: [{ addresses: ['10.0.0.1'], nodeName: 'n1' }],
      },
    });
    const slices = await discovery.listNamespacedEndpointSlice({
      namespace: 'w1',
      labelSelector: 'kubernetes.io/service-name=agents',
    });
    assert.equal(slices.items[0]?.endpoints[0]?.nodeName, 'n1');
  });

  test('fault injection: the next requests fail with 5xx, hang, and PATCHes are counted per node', async () => {
    double.faults.failNext(2, { verb: 'get', resource: 'nodes', status: 503 });
    assert.equal((await apiError(core.readNode({ name: 'n1' }))).code, 503);
    assert.equal((await apiError(core.readNode({ name: 'n1' }))).code, 503);
    assert.equal((await core.readNode({ name: 'n1' })).metadata?.name, 'n1');
    const before = double.patchCount('n2');
    await core.patchNode({ name: 'n2', body: { metadata: { annotations: { y: '1' } } } }, merge);
    assert.equal(double.patchCount('n2'), before + 1);
    double.faults.inject({ verb: 'get', resource: 'nodes', hang: true });
    const hung = core.readNode({ name: 'n1' });
    await new Promise((r) => setTimeout(r, 50));
    double.faults.clear();
    await assert.rejects(hung);
  });

  test('a kubeconfig file written for the double loads in the real client', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'double-'));
    try {
      const file = await writeKubeconfig(join(dir, 'config'), double.url, 'file-user');
      const fromFile = new KubeConfig();
      fromFile.loadFromFile(file);
      const nodes = await fromFile.makeApiClient(CoreV1Api).listNode();
      assert.ok(nodes.items.length >= 2);
      assert.equal(double.requests.at(-1)?.user, 'file-user');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('patch formats', () => {
  test('merge patch: null deletes, arrays replace', () => {
    assert.deepEqual(mergePatch({ a: { b: 1, c: 2 }, l: [1, 2] }, { a: { b: null, d: 3 }, l: [3] }), {
      a: { c: 2, d: 3 },
      l: [3],
    });
  });
  test('strategic merge patch merges conditions by type and honours $patch: delete', () => {
    const target = {
      status: {
        conditions: [
          { type: 'Ready', status: 'False' },
          { type: 'X', status: 'True' },
        ],
      },
    };
    const patch: Json = {
      status: {
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'X', $patch: 'delete' },
        ],
      },
    };
    assert.deepEqual(strategicMergePatch(target, patch), {
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
  });
  test('json patch: add, replace, remove, test', () => {
    const doc = { metadata: { annotations: { a: '1' } } };
    const out = jsonPatch(doc, [
      { op: 'add', path: '/metadata/annotations/loadwise.io~1x', value: '2' },
      { op: 'replace', path: '/metadata/annotations/a', value: '3' },
      { op: 'test', path: '/metadata/annotations/a', value: '3' },
      { op: 'remove', path: '/metadata/annotations/a' },
    ]);
    assert.deepEqual(out, { metadata: { annotations: { 'loadwise.io/x': '2' } } });
    assert.throws(() => jsonPatch(doc, [{ op: 'test', path: '/metadata/annotations/a', value: 'no' }]));
  });
});
