// A cluster half-way through a migration: one node still runs node-metrics, one runs loadwise's
// agent, one runs loadwise's agent in node-metrics compatibility mode. One loadwise controller
// reads all three through the default agent URL, and what it cannot vouch for, it refuses.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { type Server, createServer } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { ManualClock } from '../../common/clock.ts';
import { decodeFraction } from '../../contracts/annotations.ts';
import { DEFAULT_AGENT_URL_TEMPLATE } from '../../contracts/controller.ts';
import { decodeCraneFraction } from '../../contracts/crane.ts';
import type { NodeAgent } from '../../node-agent/agent.ts';
import { agentOn } from '../support/agent.ts';
import { type TestCluster, openTestCluster } from '../apiserver/cluster.ts';
import { FakeProc } from '../../doubles/fake-proc.ts';
import { addNode, makeController } from './harness.ts';

const fixture = readFileSync(new URL('../fixtures/node-metrics/statistics.json', import.meta.url), 'utf8');

/** node-metrics as it answers: its flat document on /statistics whatever the request asks for. */
async function startNodeMetrics(host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (new URL(req.url ?? '/', 'http://x').pathname === '/statistics')
      res.writeHead(200, { 'content-type': 'application/json' }).end(fixture);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}

describe('migration: node-metrics and loadwise agents feed one controller', () => {
  const clock = new ManualClock(Date.UTC(2026, 10, 22, 6, 0, 0));
  const procs = [new FakeProc(), new FakeProc()];
  let cluster: TestCluster;
  let core: CoreV1Api;
  let nodeMetrics: Server;
  const agents: NodeAgent[] = [];
  let port = 0;
  const names = { loadwise: '', nodeMetrics: '', compat: '' };

  before(async () => {
    cluster = await openTestCluster();
    core = cluster.kubeConfig('test').makeApiClient(CoreV1Api);
    names.loadwise = cluster.unique('lw');
    names.nodeMetrics = cluster.unique('nm');
    names.compat = cluster.unique('compat');
    // Three "nodes" on three loopback addresses, one agent port, as in a cluster.
    for (const [i, [name, compat]] of (
      [
        [names.loadwise, 'none'],
        [names.compat, 'node-metrics'],
      ] as const
    ).entries()) {
      const agent = agentOn(procs[i]!, clock, { nodeName: name, compat });
      procs[i]!.setMemory(1000, 400);
      agent.sample();
      clock.advance(10_000);
      procs[i]!.runFor(1000, 250);
      agent.sample();
      const address = await agent.listen(i === 0 ? '127.0.0.2' : '127.0.0.4', port);
      port = Number(new URL(address).port);
      agents.push(agent);
    }
    nodeMetrics = await startNodeMetrics('127.0.0.3', port);
    await addNode(cluster, names.loadwise, { ip: '127.0.0.2' });
    await addNode(cluster, names.nodeMetrics, { ip: '127.0.0.3' });
    await addNode(cluster, names.compat, { ip: '127.0.0.4' });
  });
  after(async () => {
    for (const agent of agents) await agent.stop();
    nodeMetrics.closeAllConnections();
    await new Promise((resolve) => nodeMetrics.close(resolve));
    for (const proc of procs) proc.cleanup();
    await cluster.close();
  });

  const annotations = async (name: string) => (await core.readNode({ name })).metadata?.annotations ?? {};
  const figure = (a: Record<string, string>, key: string) => {
    const decoded = decodeFraction(a[`loadwise.io/${key}`] ?? '');
    return decoded.ok ? decoded.annotation : undefined;
  };

  test('each node gets its own figures, in fractions, whichever agent it runs', async () => {
    const { controller: c } = makeController(
      cluster,
      { port, urlTemplate: DEFAULT_AGENT_URL_TEMPLATE },
      clock,
      {
        craneCompat: true,
      },
    );
    await c.start({ loop: false });
    try {
      const report = await c.syncOnce();
      assert.deepEqual(report.agentFailures, {});
      assert.equal(report.patched, 3);

      const lw = await annotations(names.loadwise);
      assert.equal(figure(lw, 'cpu_usage_avg_5m')?.value, 0.25);
      assert.equal(figure(lw, 'mem_usage_avg_5m')?.value, 0.6);

      // node-metrics' 6.80 % and 55.90 %, as fractions, dated by the controller's clock on receipt.
      const nm = await annotations(names.nodeMetrics);
      assert.deepEqual(figure(nm, 'cpu_usage_avg_5m'), { value: 0.068, timestampMs: clock.now() });
      assert.equal(figure(nm, 'mem_usage_max_avg_1d')?.value, 0.559);
      assert.equal(figure(nm, 'cpu_usage_max_avg_1h')?.value, 0.1245);
      // And crane's bare key, for a crane-scheduler still reading the node during the migration.
      const crane = decodeCraneFraction(nm.cpu_usage_avg_5m ?? '', 'Asia/Shanghai');
      assert.ok(crane.ok && crane.annotation.value === 0.068 && crane.annotation.timestampMs === clock.now());

      // The compatibility-mode agent gave loadwise's document (it names its node), not percentages.
      const compat = await annotations(names.compat);
      assert.equal(figure(compat, 'cpu_usage_avg_5m')?.value, 0.25);
    } finally {
      await c.stop();
    }
  });

  test('a node-metrics address another node shares is refused for both; a loadwise agent is checked by name', async () => {
    // A stale Node that still claims node-metrics' address, and one that claims the compat agent's.
    const stale = cluster.unique('stale');
    const impostor = cluster.unique('imp');
    await addNode(cluster, stale, { ip: '127.0.0.3' });
    await addNode(cluster, impostor, { ip: '127.0.0.4' });
    const before = await annotations(names.nodeMetrics);
    clock.advance(60_000);
    const { controller: c, metrics } = makeController(
      cluster,
      { port, urlTemplate: DEFAULT_AGENT_URL_TEMPLATE },
      clock,
    );
    await c.start({ loop: false });
    try {
      const report = await c.syncOnce();
      // node-metrics' document names no node: with two Nodes on one address, neither gets it.
      // loadwise's document names its node: the compat node still gets its own, the impostor nothing.
      assert.deepEqual(report.agentFailures, { wrong_node: 3 });
      assert.deepEqual(
        await annotations(names.nodeMetrics),
        before,
        'the shared node-metrics figures were not written',
      );
      assert.equal(figure(await annotations(stale), 'cpu_usage_avg_5m'), undefined);
      assert.equal(figure(await annotations(impostor), 'cpu_usage_avg_5m'), undefined);
      const text = await metrics.registry.metrics();
      assert.match(text, /loadwise_controller_agent_failures_total\{reason="wrong_node"\} 3/);
    } finally {
      await c.stop();
    }
  });

  test('a node-metrics document is not taken from an agent URL that is not the node’s own address', async () => {
    // A template by name (DNS) cannot be vouched for: a loadwise agent still can, by its node name.
    const { controller: c } = makeController(
      cluster,
      { port, urlTemplate: `http://127.0.0.3:${port}/statistics?node={name}` },
      clock,
    );
    await c.start({ loop: false });
    try {
      const report = await c.syncOnce();
      assert.equal(report.agentFailures.wrong_node, report.nodes);
    } finally {
      await c.stop();
    }
  });
});
