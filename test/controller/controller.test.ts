// The controller end to end: the real @kubernetes/client-node against the API-server double (or a
// real cluster with LOADWISE_TEST_KUBECONFIG), simulated agents on 127.0.0.1.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, test } from 'node:test';
import { CoordinationV1Api, CoreV1Api, DiscoveryV1Api, V1MicroTime } from '@kubernetes/client-node';
import { ManualClock } from '../../common/clock.ts';
import { encodeFraction } from '../../contracts/annotations.ts';
import { CONTROLLER_METRICS } from '../../contracts/controller.ts';
import { encodeCraneFraction } from '../../contracts/crane.ts';
import { formatRfc3339 } from '../../contracts/time.ts';
import { FAKE_SAMPLE_AGE_MS, FakeAgents } from '../agents/fake-agents.ts';
import { type TestCluster, openTestCluster } from '../apiserver/cluster.ts';
import { addNode, makeController, shippedPolicy, waitFor } from './harness.ts';

const SECOND = 1000;

/** A loopback port nobody listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
const MINUTE = 60 * SECOND;

describe('controller', () => {
  let cluster: TestCluster;
  let agents: FakeAgents;
  let clock: ManualClock;
  let core: CoreV1Api;
  const cleanups: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    clock = new ManualClock(Math.floor(Date.now() / SECOND) * SECOND);
    cluster = await openTestCluster();
    agents = await FakeAgents.start(clock);
    core = cluster.kubeConfig('test').makeApiClient(CoreV1Api);
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await agents.close();
    await cluster.close();
  });

  const annotations = async (name: string): Promise<Record<string, string>> =>
    (await core.readNode({ name })).metadata?.annotations ?? {};

  async function started(overrides: Parameters<typeof makeController>[3] = {}) {
    const h = makeController(cluster, agents, clock, overrides);
    cleanups.push(() => h.controller.stop());
    await h.controller.start({ loop: false });
    return h;
  }

  test('writes every figure in one PATCH per node, then nothing while the load holds still', async () => {
    const names = [cluster.unique('a'), cluster.unique('b'), cluster.unique('c')];
    for (const [i, name] of names.entries()) {
      await addNode(cluster, name);
      agents.setLoad(name, { cpu_usage_avg_5m: 0.1 * (i + 1), mem_usage_avg_5m: 0.5, cpu_usage_active: 0.9 });
    }
    const { controller, metrics } = await started({ craneCompat: true });
    await controller.waitForPods();
    const first = await controller.syncOnce();
    assert.equal(first.patched, 3);
    // Dated by the controller's clock: when it asked, minus the agent's sample age.
    const stamp = formatRfc3339(clock.now() - FAKE_SAMPLE_AGE_MS);
    const b = await annotations(names[1]!);
    assert.equal(b['loadwise.io/cpu_usage_avg_5m'], `0.20000,${stamp}`);
    assert.equal(b['loadwise.io/mem_usage_avg_5m'], `0.50000,${stamp}`);
    assert.equal(
      b.cpu_usage_avg_5m,
      encodeCraneFraction(0.2, clock.now() - FAKE_SAMPLE_AGE_MS, 'Asia/Shanghai'),
      "crane's bare key, in crane's format and default zone",
    );
    assert.equal(b['loadwise.io/node_hot_value'], `0,${formatRfc3339(clock.now())}`);
    assert.equal(b['loadwise.io/cpu_usage_active'], undefined, 'figures outside the policy are not written');
    assert.equal(b['loadwise.io/cpu_usage_max_avg_1d'], undefined, 'figures the agent lacks are not written');
    if (cluster.double) for (const n of names) assert.equal(cluster.double.patchCount(n), 1);

    clock.advance(30 * SECOND);
    agents.setLoad(names[0]!, { cpu_usage_avg_5m: 0.11, mem_usage_avg_5m: 0.5 });
    const second = await controller.syncOnce();
    assert.deepEqual({ patched: second.patched, unchanged: second.unchanged }, { patched: 0, unchanged: 3 });

    clock.advance(30 * SECOND);
    agents.setLoad(names[0]!, { cpu_usage_avg_5m: 0.4, mem_usage_avg_5m: 0.5 });
    const third = await controller.syncOnce();
    assert.equal(third.patched, 1);
    assert.match((await annotations(names[0]!))['loadwise.io/cpu_usage_avg_5m']!, /^0\.40000,/);
    assert.equal(await metrics.value(CONTROLLER_METRICS.nodePatches), 4);
  });

  test("a node whose clock is a day fast cannot freeze its figures: they are dated by the controller's clock", async () => {
    const fast = cluster.unique('fast');
    // An older controller trusted this node's clock and left tomorrow's date on the figure.
    const tomorrow = clock.now() + 24 * 60 * MINUTE;
    await addNode(cluster, fast, {
      annotations: { 'loadwise.io/cpu_usage_avg_5m': encodeFraction(0, tomorrow) },
    });
    agents.setBehaviour(fast, { kind: 'ok', clockAheadMs: 24 * 60 * MINUTE });
    agents.setLoad(fast, { cpu_usage_avg_5m: 0.5, mem_usage_avg_5m: 0.4 });
    const { controller, metrics } = await started({ policy: shippedPolicy({ hotValue: false }) });
    assert.equal((await controller.syncOnce()).patched, 1, 'the future-dated figure is replaced at once');
    const dated = (at: number) => formatRfc3339(at - FAKE_SAMPLE_AGE_MS);
    assert.equal((await annotations(fast))['loadwise.io/cpu_usage_avg_5m'], `0.50000,${dated(clock.now())}`);
    assert.equal(await metrics.value(CONTROLLER_METRICS.agentClockSkewed), 1);
    // Ten simulated minutes of a load that moves: every move reaches the Node, never held back by
    // a timestamp from tomorrow.
    for (let tick = 1; tick <= 20; tick++) {
      clock.advance(30 * SECOND);
      const load = tick % 2 === 0 ? 0.3 : 0.6;
      agents.setLoad(fast, { cpu_usage_avg_5m: load, mem_usage_avg_5m: 0.4 });
      assert.equal((await controller.syncOnce()).patched, 1, `tick ${tick}`);
      assert.equal(
        (await annotations(fast))['loadwise.io/cpu_usage_avg_5m'],
        `${load.toFixed(5)},${dated(clock.now())}`,
      );
    }
  });

  test('reads an agent of the first release (its document as it served it), and one that lacks fields added since', async () => {
    const fixture = JSON.parse(
      readFileSync(new URL('../agents/fixtures/statistics-first-release.json', import.meta.url), 'utf8'),
    ) as {
      windows: Record<string, number>;
      sampleAgeSeconds?: number;
      sampleIntervalSeconds?: number;
      coverageSeconds?: unknown;
    };
    const first = cluster.unique('first');
    const older = cluster.unique('older');
    await addNode(cluster, first);
    await addNode(cluster, older);
    agents.setBehaviour(first, { kind: 'document', body: fixture });
    // Fields a release added after the first: an older agent would not send them.
    const lean: Record<string, unknown> = { ...fixture };
    delete lean.sampleIntervalSeconds;
    delete lean.coverageSeconds;
    agents.setBehaviour(older, { kind: 'document', body: lean });
    const { controller, metrics } = await started({ policy: shippedPolicy({ hotValue: false }) });
    const report = await controller.syncOnce();
    assert.deepEqual(report.agentFailures, {});
    assert.equal(report.patched, 2);
    for (const name of [first, older]) {
      const written = await annotations(name);
      assert.equal(
        written['loadwise.io/cpu_usage_avg_5m']?.split(',')[0],
        fixture.windows.cpu_usage_avg_5m!.toFixed(5),
        name,
      );
      assert.match(written['loadwise.io/mem_usage_max_avg_1d'] ?? '', /^0\.\d{5},/, name);
      assert.equal(
        written['loadwise.io/gpu_usage_avg_5m'],
        undefined,
        'no GPU figures from a CPU-only release',
      );
    }
    // Dated by this controller's clock and the document's sample age.
    const measured = formatRfc3339(clock.now() - fixture.sampleAgeSeconds! * 1000);
    assert.match((await annotations(first))['loadwise.io/cpu_usage_avg_5m']!, new RegExp(`,${measured}$`));
    assert.equal(await metrics.value(CONTROLLER_METRICS.agentPolls, { result: 'ok' }), 2);
  });

  test('PATCH economy: an hour of steady load synced every 30 s costs at most 12 PATCHes per node', async () => {
    const names = [cluster.unique('e1'), cluster.unique('e2'), cluster.unique('e3')];
    for (const name of names) await addNode(cluster, name);
    const { controller, metrics } = await started({ policy: shippedPolicy({ hotValue: false }) });
    let seed = 7;
    const jitter = () => {
      seed = (seed * 16807) % 2147483647;
      return (seed / 2147483647 - 0.5) * 0.018;
    };
    for (let tick = 0; tick < 120; tick++) {
      for (const name of names) {
        agents.setLoad(name, {
          cpu_usage_avg_5m: 0.45 + jitter(),
          cpu_usage_max_avg_1h: 0.6 + jitter(),
          cpu_usage_max_avg_1d: 0.8,
          mem_usage_avg_5m: 0.3 + jitter(),
          mem_usage_max_avg_1h: 0.35,
          mem_usage_max_avg_1d: 0.4,
        });
      }
      await controller.syncOnce();
      clock.advance(30 * SECOND);
    }
    const perNode = (await metrics.value(CONTROLLER_METRICS.nodePatches)) / names.length;
    assert.ok(perNode <= 12, `${perNode} PATCHes per node per hour`);
    assert.ok(perNode >= 10, `figures must be refreshed before they expire (${perNode})`);
    if (cluster.double) for (const n of names) assert.ok(cluster.double.patchCount(n) <= 12);
  });

  test('GPU node labels: written once, valid values, no PATCH of their own at a steady state, removed with the GPUs', async () => {
    const gpuNode = cluster.unique('gpu');
    const cpuNode = cluster.unique('cpu');
    for (const name of [gpuNode, cpuNode]) {
      await addNode(cluster, name);
      agents.setLoad(name, { cpu_usage_avg_5m: 0.3, mem_usage_avg_5m: 0.4 });
    }
    agents.setGpus(
      gpuNode,
      Array.from({ length: 8 }, (_, index) => ({
        index,
        uuid: `GPU-${index}`,
        model: 'NVIDIA A100-SXM4-80GB',
        memoryMiB: 81920,
        mig: false,
        healthy: true,
        links: [],
        allocated: { core: 0, memoryMiB: 0 },
      })),
    );
    const { controller } = await started();
    const labels = async (name: string) => (await core.readNode({ name })).metadata?.labels ?? {};
    await controller.syncOnce();
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(await labels(gpuNode)).filter(([k]) => k.startsWith('loadwise.io/gpu-')),
      ),
      {
        'loadwise.io/gpu-model': 'NVIDIA-A100-SXM4-80GB',
        'loadwise.io/gpu-count': '8',
        'loadwise.io/gpu-memory-mib': '81920',
      },
    );
    assert.equal((await labels(cpuNode))['loadwise.io/gpu-count'], undefined);
    // 20 minutes of the same load and GPUs: the GPU node costs no PATCH more than the CPU node.
    if (cluster.double) {
      const before = [gpuNode, cpuNode].map((n) => cluster.double!.patchCount(n));
      for (let tick = 0; tick < 40; tick++) {
        clock.advance(30 * SECOND);
        await controller.syncOnce();
      }
      const after = [gpuNode, cpuNode].map((n) => cluster.double!.patchCount(n));
      assert.equal(after[0]! - before[0]!, after[1]! - before[1]!, 'labels are not rewritten');
    }
    // The agent reports no GPU any more: the labels go; an unreachable agent changes nothing.
    agents.setGpus(gpuNode, []);
    await controller.syncOnce();
    assert.equal((await labels(gpuNode))['loadwise.io/gpu-model'], undefined);
  });

  test('refreshes of nodes written together are spread over cycles, oldest first, and never let a figure expire', async () => {
    const names: string[] = [];
    for (let i = 0; i < 40; i++) {
      const name = cluster.unique(`r${i}`);
      names.push(name);
      await addNode(cluster, name);
      agents.setLoad(name, { cpu_usage_avg_5m: 0.3 });
    }
    // Budget: max(concurrency 8, 2 x 40 nodes x 30 s / 5 min) = 8 refreshes per cycle.
    const { controller } = await started({ policy: shippedPolicy({ hotValue: false }) });
    assert.equal((await controller.syncOnce()).patched, 40);
    const perCycle: number[] = [];
    let maxAgeMs = 0;
    for (let tick = 0; tick < 60; tick++) {
      clock.advance(30 * SECOND);
      const report = await controller.syncOnce();
      perCycle.push(report.patched);
      for (const name of names.slice(0, 5)) {
        const written = (await annotations(name))['loadwise.io/cpu_usage_avg_5m']!;
        maxAgeMs = Math.max(maxAgeMs, clock.now() - Date.parse(written.split(',')[1]!));
      }
    }
    assert.ok(Math.max(...perCycle.slice(0, 14)) <= 8, `refresh bursts: ${perCycle.join(' ')}`);
    assert.ok(Math.max(...perCycle.slice(20)) < 40, `still in lockstep: ${perCycle.join(' ')}`);
    assert.ok(maxAgeMs <= 10 * MINUTE, `a figure aged ${maxAgeMs / 1000} s, past its 10 min validity`);
    const total = perCycle.reduce((a, b) => a + b, 0);
    assert.ok(total / names.length <= 6.5, `${total / names.length} refreshes per node in 30 min`);
  });

  test("hot value: crane's rule over the bindings seen on the Pod watch", async () => {
    const hot = cluster.unique('hot');
    const cold = cluster.unique('cold');
    await addNode(cluster, hot);
    await addNode(cluster, cold);
    clock.set(Date.now());
    const { controller } = await started();
    await controller.waitForPods();
    for (let i = 0; i < 6; i++) {
      const name = `p${i}`;
      await core.createNamespacedPod({
        namespace: cluster.namespace,
        body: {
          metadata: { name },
          spec: { containers: [{ name: 'c', image: 'pause' }], schedulerName: 'none' },
        },
      });
      await core.createNamespacedPodBinding({
        namespace: cluster.namespace,
        name,
        body: { metadata: { name }, target: { kind: 'Node', name: hot } },
      });
    }
    // 6 bindings: floor(6 / 5) for the 5m rule + floor(6 / 2) for the 1m rule.
    await waitFor(async () => {
      clock.set(Date.now());
      await controller.syncOnce();
      return /^4,/.test((await annotations(hot))['loadwise.io/node_hot_value'] ?? '');
    }, 'hot value 4 on the node');
    assert.match((await annotations(cold))['loadwise.io/node_hot_value'] ?? '', /^0,/);
    // Two minutes on, the 1m rule no longer counts them.
    clock.set(Date.now() + 2 * MINUTE);
    await controller.syncOnce();
    assert.match((await annotations(hot))['loadwise.io/node_hot_value'] ?? '', /^1,/);
  });

  test('an agent that hangs, refuses, resets, answers garbage or 5xx, or is another node leaves the node untouched, counted by reason', async () => {
    const old = encodeFraction(0.33, clock.now() - MINUTE);
    const kinds: Array<[string, Parameters<FakeAgents['setBehaviour']>[1] | null, string]> = [
      ['hang', { kind: 'hang' }, 'timeout'],
      ['refused', null, 'refused'],
      ['reset', { kind: 'reset' }, 'reset'],
      ['garbage', { kind: 'garbage', body: '{"hello":' }, 'garbage'],
      ['shape', { kind: 'garbage', body: '{"node":"x"}' }, 'garbage'],
      ['fivexx', { kind: 'status', code: 500 }, 'http_status'],
      ['impostor', { kind: 'impostor', node: 'someone-else' }, 'wrong_node'],
      ['noaddr', null, 'no_address'],
    ];
    const names = new Map<string, string>();
    for (const [kind, behaviour] of kinds) {
      const name = cluster.unique(kind);
      names.set(kind, name);
      const ip = kind === 'refused' ? '127.0.0.2' : kind === 'noaddr' ? null : '127.0.0.1';
      await addNode(cluster, name, { ip, annotations: { 'loadwise.io/cpu_usage_avg_5m': old } });
      if (behaviour) agents.setBehaviour(name, behaviour);
      agents.setLoad(name, { cpu_usage_avg_5m: 0.9 });
    }
    const healthy = cluster.unique('healthy');
    await addNode(cluster, healthy);
    agents.setLoad(healthy, { cpu_usage_avg_5m: 0.2 });
    const { controller, metrics } = await started({
      policy: shippedPolicy({ hotValue: false }),
      requestTimeoutMs: 300,
    });
    const before = new Map<string, Record<string, string>>();
    for (const name of names.values()) before.set(name, await annotations(name));
    const report = await controller.syncOnce();
    assert.equal(report.patched, 1);
    for (const [kind, , reason] of kinds) {
      const name = names.get(kind)!;
      assert.deepEqual(await annotations(name), before.get(name), `${kind}: annotations untouched`);
      assert.ok(
        (await metrics.value(CONTROLLER_METRICS.agentFailures, { reason })) >= 1,
        `${kind} counted as ${reason}`,
      );
    }
    assert.equal(await metrics.value(CONTROLLER_METRICS.agentFailures, { reason: 'garbage' }), 2);
    assert.match((await annotations(healthy))['loadwise.io/cpu_usage_avg_5m']!, /^0\.20000,/);
  });

  test("agents found through their Service's EndpointSlices, else at the Node's InternalIP", async () => {
    const viaSlice = cluster.unique('slice');
    const viaNode = cluster.unique('direct');
    // Nothing listens at 127.0.0.2: only the EndpointSlice's address reaches this node's agent.
    await addNode(cluster, viaSlice, { ip: '127.0.0.2' });
    await addNode(cluster, viaNode);
    agents.setLoad(viaSlice, { cpu_usage_avg_5m: 0.61 });
    agents.setLoad(viaNode, { cpu_usage_avg_5m: 0.62 });
    const discovery = cluster.kubeConfig('test').makeApiClient(DiscoveryV1Api);
    await discovery.createNamespacedEndpointSlice({
      namespace: cluster.namespace,
      body: {
        metadata: { name: 'agents-abc', labels: { 'kubernetes.io/service-name': 'agents' } },
        addressType: 'IPv4',
        ports: [{ name: 'http', port: agents.port, protocol: 'TCP' }],
        endpoints: [{ addresses: ['127.0.0.1'], nodeName: viaSlice, conditions: { ready: true } }],
      },
    });
    const { controller } = await started({
      policy: shippedPolicy({ hotValue: false }),
      agentUrlTemplate: 'http://{ip}:{port}/nodes/{name}/statistics',
      agentPort: await closedPort(), // the fallback must not reach an agent by accident
      agentService: { namespace: cluster.namespace, service: 'agents', portName: 'http' },
    });
    const report = await controller.syncOnce();
    assert.match((await annotations(viaSlice))['loadwise.io/cpu_usage_avg_5m'] ?? '', /^0\.61000,/);
    assert.equal(report.patched, 1);
    assert.deepEqual(
      report.agentFailures,
      { refused: 1 },
      'the other node falls back to InternalIP:--agent-port',
    );
  });

  test('API 409 on a PATCH: re-read the node and retry', async (t) => {
    if (!cluster.double) return t.skip('needs the API-server double to inject a conflict');
    const name = cluster.unique('conflict');
    await addNode(cluster, name);
    agents.setLoad(name, { cpu_usage_avg_5m: 0.5 });
    const { controller, metrics } = await started({ policy: shippedPolicy({ hotValue: false }) });
    cluster.double.faults.inject({ verb: 'patch', resource: 'nodes', status: 409, times: 2 });
    const gets = cluster.double.count({ verb: 'get', resource: 'nodes', name });
    const report = await controller.syncOnce();
    assert.equal(report.patched, 1);
    assert.equal(
      cluster.double.count({ verb: 'get', resource: 'nodes', name }) - gets,
      2,
      'one re-read per conflict',
    );
    assert.equal(await metrics.value(CONTROLLER_METRICS.apiRetries, { reason: 'conflict' }), 2);
    assert.match((await annotations(name))['loadwise.io/cpu_usage_avg_5m']!, /^0\.50000,/);
  });

  test('API 5xx and timeouts: back off and retry; past the attempts, count it and carry on', async (t) => {
    const double = cluster.double;
    if (!double) return t.skip('needs the API-server double to inject failures');
    const name = cluster.unique('flaky');
    await addNode(cluster, name);
    agents.setLoad(name, { cpu_usage_avg_5m: 0.5 });
    const { controller, metrics } = await started({
      policy: shippedPolicy({ hotValue: false }),
      apiTimeoutMs: 300,
      maxApiAttempts: 4,
    });
    double.faults.inject({ verb: 'patch', resource: 'nodes', status: 503 });
    double.faults.inject({ verb: 'patch', resource: 'nodes', hang: true });
    double.faults.inject({ verb: 'patch', resource: 'nodes', status: 500 });
    const first = await controller.syncOnce();
    assert.equal(first.patched, 1);
    assert.equal(await metrics.value(CONTROLLER_METRICS.apiRetries, { reason: 'server_error' }), 2);
    assert.equal(await metrics.value(CONTROLLER_METRICS.apiRetries, { reason: 'timeout' }), 1);

    double.faults.failNext(50, { verb: 'patch', resource: 'nodes', status: 500 });
    agents.setLoad(name, { cpu_usage_avg_5m: 0.9 });
    clock.advance(30 * SECOND);
    const second = await controller.syncOnce();
    assert.deepEqual(second.patchFailures, { server_error: 1 });
    assert.equal(await metrics.value(CONTROLLER_METRICS.nodePatchFailures, { reason: 'server_error' }), 1);
    double.faults.clear();
    clock.advance(30 * SECOND);
    assert.equal((await controller.syncOnce()).patched, 1);
    assert.match((await annotations(name))['loadwise.io/cpu_usage_avg_5m']!, /^0\.90000,/);
  });

  test('the node cache re-lists after 410 Gone and resumes after a dropped watch', async (t) => {
    const double = cluster.double;
    if (!double) return t.skip('needs the API-server double to drop and expire watches');
    const { controller, metrics } = await started({ policy: shippedPolicy({ hotValue: false }) });
    const seen = async (name: string) =>
      (await controller.syncOnce()).nodes > 0 && agents.requestsFor(name) > 0;
    const first = cluster.unique('w1');
    await addNode(cluster, first);
    await waitFor(() => seen(first), 'the first node');

    double.faults.dropWatches('nodes');
    const second = cluster.unique('w2');
    await addNode(cluster, second);
    await waitFor(() => seen(second), 'a node added while the watch was down');

    double.compact();
    double.faults.expireWatches('nodes');
    const third = cluster.unique('w3');
    await addNode(cluster, third);
    await waitFor(() => seen(third), 'a node added after 410 Gone');
    await core.deleteNode({ name: first });
    await waitFor(
      async () => (await controller.syncOnce()).nodes === 2,
      'the deleted node gone from the cache',
    );
    assert.ok(
      (await metrics.value(CONTROLLER_METRICS.watchRestarts, { resource: 'nodes', reason: 'gone' })) >= 1,
    );
  });

  test('cycles never overlap: a slow round starts the next one late and counts an overrun', async () => {
    const name = cluster.unique('slow');
    await addNode(cluster, name);
    agents.setBehaviour(name, { kind: 'ok', delayMs: 120 });
    agents.setLoad(name, { cpu_usage_avg_5m: 0.5 });
    const { controller, metrics } = await started({
      policy: shippedPolicy({ hotValue: false }),
      syncPeriodMs: 50,
    });
    const loop = makeController(cluster, agents, clock, {
      policy: shippedPolicy({ hotValue: false }),
      syncPeriodMs: 50,
    });
    cleanups.push(() => loop.controller.stop());
    await controller.stop();
    await loop.controller.start();
    await waitFor(async () => (await loop.metrics.value(CONTROLLER_METRICS.syncs)) >= 4, 'four sync cycles');
    await loop.controller.stop();
    assert.equal(agents.maxInFlight, 1, 'never two polls of the one node at once');
    assert.ok((await loop.metrics.value(CONTROLLER_METRICS.syncOverruns)) >= 3);
    assert.equal(await metrics.value(CONTROLLER_METRICS.syncs), 0);
  });

  test('polls run with bounded concurrency', async () => {
    for (let i = 0; i < 12; i++) {
      const name = cluster.unique(`c${i}`);
      await addNode(cluster, name);
      agents.setBehaviour(name, { kind: 'ok', delayMs: 20 });
    }
    const { controller } = await started({ policy: shippedPolicy({ hotValue: false }), concurrency: 3 });
    const report = await controller.syncOnce();
    assert.equal(report.polled, 12);
    assert.equal(agents.maxInFlight, 3);
  });

  test('leader hand-over: only the leader writes; a stopped leader hands over, a deposed one stops within a renew period', async () => {
    const names = [cluster.unique('l1'), cluster.unique('l2')];
    for (const name of names) await addNode(cluster, name);
    // min-change 0: every new measurement (each second) is a write, so a replica that may write does.
    const timing = { leaseDurationMs: 1000, renewDeadlineMs: 600, retryPeriodMs: 100 };
    const lease = { namespace: cluster.namespace, name: cluster.unique('lease'), ...timing };
    // Lease timing is real time, so this test runs on the wall clock throughout.
    const realClock = { now: () => Date.now() };
    await agents.close();
    agents = await FakeAgents.start(realClock);
    for (const name of names) agents.setLoad(name, { cpu_usage_avg_5m: 0.5 });
    const make = (user: string) => {
      const h = makeController(cluster, agents, realClock, {
        user,
        policy: shippedPolicy({ hotValue: false }),
        syncPeriodMs: 100,
        minChange: 0,
        leaderElection: { ...lease, identity: user },
      });
      cleanups.push(() => h.controller.stop());
      return h;
    };
    const a = make('replica-a');
    const b = make('replica-b');
    await a.controller.start();
    await waitFor(() => a.controller.isLeader(), 'replica-a to lead');
    await b.controller.start();
    await waitFor(
      async () => (await a.metrics.value(CONTROLLER_METRICS.nodePatches)) >= 4,
      'replica-a to write',
    );
    assert.equal(b.controller.isLeader(), false);
    assert.equal(await b.metrics.value(CONTROLLER_METRICS.nodePatches), 0, 'the follower never writes');

    const handOver = Date.now();
    await a.controller.stop();
    const aPatches = await a.metrics.value(CONTROLLER_METRICS.nodePatches);
    await waitFor(() => b.controller.isLeader(), 'replica-b to take over', 3000);
    assert.ok(
      Date.now() - handOver < timing.leaseDurationMs,
      'a released lease is taken without waiting it out',
    );
    await waitFor(
      async () => (await b.metrics.value(CONTROLLER_METRICS.nodePatches)) >= 2,
      'replica-b to write',
    );
    assert.equal(
      await a.metrics.value(CONTROLLER_METRICS.nodePatches),
      aPatches,
      'the old leader wrote nothing more',
    );

    // Someone else takes the lease: replica-b must stop writing within one renew period.
    const coordination = cluster.kubeConfig('intruder').makeApiClient(CoordinationV1Api);
    const current = await coordination.readNamespacedLease({ namespace: lease.namespace, name: lease.name });
    current.spec = {
      ...current.spec,
      holderIdentity: 'intruder',
      renewTime: new V1MicroTime(Date.now()),
      leaseDurationSeconds: 60,
    };
    await coordination.replaceNamespacedLease({
      namespace: lease.namespace,
      name: lease.name,
      body: current,
    });
    const stolen = Date.now();
    await waitFor(() => !b.controller.isLeader(), 'replica-b to step down', 2000);
    assert.ok(
      Date.now() - stolen <= timing.retryPeriodMs * 3,
      `stepped down after ${Date.now() - stolen} ms`,
    );
    const bPatches = await b.metrics.value(CONTROLLER_METRICS.nodePatches);
    await new Promise((r) => setTimeout(r, 3 * timing.retryPeriodMs));
    assert.equal(
      await b.metrics.value(CONTROLLER_METRICS.nodePatches),
      bPatches,
      'no writes after stepping down',
    );
    if (cluster.double) {
      const since = stolen + timing.retryPeriodMs + 50;
      assert.equal(
        cluster.double.count({
          verb: 'patch',
          resource: 'nodes',
          user: 'replica-b',
          sinceMs: since,
          status: 200,
        }),
        0,
      );
      assert.equal(
        cluster.double.count({ verb: 'patch', resource: 'nodes', user: 'replica-a', sinceMs: handOver + 50 }),
        0,
      );
    }
  });
});
