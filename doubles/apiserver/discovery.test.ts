// Discovery and server-side printing, as kubectl and client-go rely on them: read through the real
// @kubernetes/client-node (which decodes the documented shapes), over raw HTTP for the Accept-
// negotiated forms, and with the real `kubectl` binary when one is on PATH.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { ApisApi, CoordinationApi, CoordinationV1Api, CoreApi, CoreV1Api } from '@kubernetes/client-node';
import { AGGREGATED_CONTENT_TYPE } from './discovery.ts';
import { kubeConfigFor, writeKubeconfig } from './kubeconfig.ts';
import { RESOURCES, apiVersionOf } from './resources.ts';
import { ApiServerDouble } from './server.ts';
import { humanDuration } from './tables.ts';

const run = promisify(execFile);
const KUBECTL_DISCOVERY =
  'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,' +
  'application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
const KUBECTL_TABLE =
  'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

let api: ApiServerDouble;

// The real binary, when this machine has one (CI images usually do not; then the shape tests above
// are what guards discovery).
const kubectl = await run('kubectl', ['version', '--client']).then(
  () => true,
  () => false,
);

// One suite around the whole file: its hooks bracket every test below, the kubectl ones included.
describe('the embedded API server as clients see it', () => {
  before(async () => {
    api = await ApiServerDouble.start();
    api.putObject({
      kind: 'Node',
      apiVersion: 'v1',
      metadata: { name: 'gpu-a', labels: { 'node-role.kubernetes.io/worker': '' } },
      spec: { unschedulable: true },
      status: {
        conditions: [{ type: 'Ready', status: 'True' }],
        addresses: [{ type: 'InternalIP', address: '127.0.0.2' }],
        nodeInfo: { kubeletVersion: 'v1.31.0', osImage: 'Debian GNU/Linux 12', kernelVersion: '6.1.0' },
      },
    });
    api.putObject({ kind: 'Namespace', apiVersion: 'v1', metadata: { name: 'demo' } });
    api.putObject({
      kind: 'Pod',
      apiVersion: 'v1',
      metadata: { name: 'train-1', namespace: 'demo', uid: 'uid-train-1' },
      spec: { nodeName: 'gpu-a', containers: [{ name: 'main', image: 'busybox' }] },
      status: {
        phase: 'Running',
        podIP: '10.1.0.7',
        containerStatuses: [{ name: 'main', ready: true, restartCount: 2, state: { running: {} } }],
      },
    });
    api.putObject({
      kind: 'Event',
      apiVersion: 'v1',
      metadata: { name: 'train-1.1', namespace: 'demo' },
      involvedObject: { kind: 'Pod', name: 'train-1', namespace: 'demo', uid: 'uid-train-1' },
      reason: 'Scheduled',
      message: 'Successfully assigned demo/train-1 to gpu-a',
      type: 'Normal',
      count: 1,
    });
  });

  after(async () => {
    await api.close();
  });

  async function getJson(
    path: string,
    accept: string,
  ): Promise<{ type: string; body: Record<string, unknown> }> {
    const res = await fetch(`${api.url}${path}`, { headers: { accept } });
    assert.equal(res.status, 200, `${path}: ${res.status}`);
    return {
      type: res.headers.get('content-type') ?? '',
      body: (await res.json()) as Record<string, unknown>,
    };
  }

  describe('discovery', () => {
    test('legacy documents decode with the real client and announce exactly what the double serves', async () => {
      const kc = kubeConfigFor(api.url);
      const versions = await kc.makeApiClient(CoreApi).getAPIVersions();
      assert.deepEqual(versions.versions, ['v1']);
      const groups = await kc.makeApiClient(ApisApi).getAPIVersions();
      const core = await kc.makeApiClient(CoreV1Api).getAPIResources();
      const leases = await kc.makeApiClient(CoordinationV1Api).getAPIResources();
      const group = await kc.makeApiClient(CoordinationApi).getAPIGroup();
      assert.equal(group.preferredVersion?.groupVersion, 'coordination.k8s.io/v1');
      assert.deepEqual(
        leases.resources.map((r) => r.name),
        ['leases'],
      );
      // One source of truth: every resource the double routes is announced, and nothing else.
      const announced = new Set<string>([
        ...core.resources.filter((r) => !r.name.includes('/')).map((r) => `v1/${r.kind}`),
      ]);
      for (const g of groups.groups) {
        for (const v of g.versions) {
          const res = await fetch(`${api.url}/apis/${v.groupVersion}`);
          const list = (await res.json()) as { resources: Array<{ name: string; kind: string }> };
          for (const r of list.resources)
            if (!r.name.includes('/')) announced.add(`${v.groupVersion}/${r.kind}`);
        }
      }
      assert.deepEqual([...announced].sort(), RESOURCES.map((r) => `${apiVersionOf(r)}/${r.kind}`).sort());
      const pods = core.resources.filter((r) => r.name.startsWith('pods'));
      assert.deepEqual(pods.map((r) => r.name).sort(), ['pods', 'pods/binding', 'pods/status']);
      assert.ok(pods[0]!.namespaced);
      assert.deepEqual(core.resources.find((r) => r.name === 'nodes')!.shortNames, ['no']);
    });

    test('kubectl’s Accept header gets aggregated discovery v2, labelled as kube-apiserver labels it', async () => {
      for (const path of ['/api', '/apis']) {
        const { type, body } = await getJson(path, KUBECTL_DISCOVERY);
        assert.equal(type, AGGREGATED_CONTENT_TYPE);
        assert.equal(body.kind, 'APIGroupDiscoveryList');
        assert.equal(body.apiVersion, 'apidiscovery.k8s.io/v2');
      }
      const { body } = await getJson('/api', KUBECTL_DISCOVERY);
      const items = body.items as Array<{ versions: Array<{ resources: Array<Record<string, unknown>> }> }>;
      const pods = items[0]!.versions[0]!.resources.find((r) => r.resource === 'pods')!;
      assert.equal(pods.scope, 'Namespaced');
      assert.deepEqual(pods.responseKind, { group: '', version: 'v1', kind: 'Pod' });
    });

    test('an unknown group or version is a 404 Status, as on a real cluster', async () => {
      for (const path of ['/apis/apps', '/apis/apps/v1', '/api/v2', '/apis/coordination.k8s.io/v9']) {
        const res = await fetch(`${api.url}${path}`);
        assert.equal(res.status, 404, path);
        const body = (await res.json()) as { kind: string; reason: string };
        assert.equal(body.kind, 'Status');
        assert.equal(body.reason, 'NotFound');
      }
    });
  });

  describe('server-side printing', () => {
    test('a list asked for as a Table has the real server’s pod columns, wide ones at priority 1', async () => {
      const { body } = await getJson('/api/v1/pods', KUBECTL_TABLE);
      assert.equal(body.kind, 'Table');
      const columns = body.columnDefinitions as Array<{ name: string; priority: number }>;
      assert.deepEqual(
        columns.filter((c) => c.priority === 0).map((c) => c.name),
        ['Name', 'Ready', 'Status', 'Restarts', 'Age'],
      );
      const rows = body.rows as Array<{
        cells: unknown[];
        object: { kind: string; metadata: { namespace: string } };
      }>;
      assert.deepEqual(rows[0]!.cells.slice(0, 4), ['train-1', '1/1', 'Running', '2']);
      assert.equal(rows[0]!.cells[6], 'gpu-a');
      assert.equal(rows[0]!.object.kind, 'PartialObjectMetadata');
      assert.equal(rows[0]!.object.metadata.namespace, 'demo');
    });

    test('a node row says Ready,SchedulingDisabled and its roles; plain JSON is still plain JSON', async () => {
      const { body } = await getJson('/api/v1/nodes/gpu-a', KUBECTL_TABLE);
      const rows = body.rows as Array<{ cells: unknown[] }>;
      assert.deepEqual(rows[0]!.cells.slice(0, 3), ['gpu-a', 'Ready,SchedulingDisabled', 'worker']);
      const plain = await getJson('/api/v1/nodes/gpu-a', 'application/json');
      assert.equal(plain.body.kind, 'Node');
    });

    test('ages read as kubectl prints them', () => {
      assert.equal(humanDuration(59_000), '59s');
      assert.equal(humanDuration(125_000), '2m5s');
      assert.equal(humanDuration(3 * 3600_000 + 5 * 60_000), '3h5m');
      assert.equal(humanDuration(50 * 3600_000), '2d2h');
    });
  });

  describe('the real kubectl', { skip: kubectl ? false : 'kubectl is not on PATH' }, () => {
    // Its own folder, made and removed by this suite's hooks: it must outlive every kubectl call here
    // whatever order the runner finishes the file's other suites in.
    let kdir = '';
    before(async () => {
      kdir = await mkdtemp(join(tmpdir(), 'loadwise-kubectl-'));
    });
    after(async () => {
      await rm(kdir, { recursive: true, force: true });
    });

    async function k(...args: string[]): Promise<string> {
      const kubeconfig = await writeKubeconfig(join(kdir, 'kubeconfig'), api.url);
      const { stdout } = await run(
        'kubectl',
        ['--kubeconfig', kubeconfig, '--cache-dir', join(kdir, 'cache'), '--request-timeout', '10s', ...args],
        { timeout: 20_000 },
      );
      return stdout;
    }

    test('get nodes,pods -A -o wide prints both tables with their wide columns', async () => {
      const out = await k('get', 'nodes,pods', '-A', '-o', 'wide');
      assert.match(out, /NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\s+INTERNAL-IP/);
      assert.match(out, /node\/gpu-a\s+Ready,SchedulingDisabled\s+worker\s+\S+\s+v1\.31\.0\s+127\.0\.0\.2/);
      assert.match(out, /NAMESPACE\s+NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE/);
      assert.match(out, /demo\s+pod\/train-1\s+1\/1\s+Running\s+2\s+\S+\s+10\.1\.0\.7\s+gpu-a/);
    });

    test('get node -o yaml prints the stored object', async () => {
      const out = await k('get', 'node', 'gpu-a', '-o', 'yaml');
      assert.match(out, /^apiVersion: v1\nkind: Node\n/);
      assert.match(out, /kubeletVersion: v1\.31\.0/);
    });

    test('describe pod shows the pod and its events', async () => {
      const out = await k('describe', 'pod', '-n', 'demo', 'train-1');
      assert.match(out, /Name:\s+train-1/);
      assert.match(out, /Node:\s+gpu-a/);
      assert.match(out, /Scheduled\s+.*Successfully assigned demo\/train-1 to gpu-a/);
    });
  });
});
