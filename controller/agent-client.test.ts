import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { V1Node } from '@kubernetes/client-node';
import { ManualClock } from '../common/clock.ts';
import { FAKE_SAMPLE_AGE_MS, FakeAgents } from '../test/agents/fake-agents.ts';
import { readFileSync } from 'node:fs';
import { agentUrl, nodeAddress, pollAgent } from './agent-client.ts';

const nodeMetricsFixture = readFileSync(
  new URL('../test/fixtures/node-metrics/statistics.json', import.meta.url),
  'utf8',
);

const node = (name: string, addresses: Array<{ type: string; address: string }>): V1Node => ({
  metadata: { name },
  status: { addresses },
});

test('the agent address: InternalIP, else ExternalIP; IPv6 bracketed; the template filled in', () => {
  assert.equal(
    nodeAddress(
      node('a', [
        { type: 'Hostname', address: 'a' },
        { type: 'InternalIP', address: '10.0.0.1' },
      ]),
    ),
    '10.0.0.1',
  );
  assert.equal(nodeAddress(node('a', [{ type: 'ExternalIP', address: '1.2.3.4' }])), '1.2.3.4');
  assert.equal(nodeAddress(node('a', [])), undefined);
  assert.equal(
    agentUrl('http://{ip}:{port}/statistics', node('a', [{ type: 'InternalIP', address: 'fd00::1' }]), 19101),
    'http://[fd00::1]:19101/statistics',
  );
  assert.equal(
    agentUrl(
      'http://{ip}:{port}/nodes/{name}',
      node('n 1', [{ type: 'InternalIP', address: '10.0.0.1' }]),
      1,
    ),
    'http://10.0.0.1:1/nodes/n%201',
  );
});

describe('pollAgent over real sockets', () => {
  let agents: FakeAgents;
  const url = (name: string, ip = '127.0.0.1') =>
    agentUrl(agents.urlTemplate, node(name, [{ type: 'InternalIP', address: ip }]), agents.port)!;
  before(async () => {
    agents = await FakeAgents.start(new ManualClock(Date.UTC(2026, 10, 22, 6, 0, 0)));
  });
  after(() => agents.close());

  test('a healthy agent', async () => {
    agents.setLoad('ok', { cpu_usage_avg_5m: 0.25, some_future_figure: 0.5 });
    const result = await pollAgent(url('ok'), 'ok', 1000);
    assert.ok(result.ok);
    assert.deepEqual(result.stats.windows, { cpu_usage_avg_5m: 0.25 });
    assert.equal(result.stats.timestampMs, Date.UTC(2026, 10, 22, 6, 0, 0) - FAKE_SAMPLE_AGE_MS);
  });

  test('every way an agent fails has its reason', async () => {
    agents.setBehaviour('hang', { kind: 'hang' });
    agents.setBehaviour('reset', { kind: 'reset' });
    agents.setBehaviour('html', { kind: 'garbage', body: '<html>oops</html>' });
    agents.setBehaviour('shape', {
      kind: 'garbage',
      body: '{"node":"shape","windows":{"cpu_usage_avg_5m":7}}',
    });
    agents.setBehaviour('huge', { kind: 'garbage', body: `"${'x'.repeat(300_000)}"` });
    agents.setBehaviour('5xx', { kind: 'status', code: 503 });
    agents.setBehaviour('other', { kind: 'impostor', node: 'someone-else' });
    const cases: Array<[string, string, string?]> = [
      ['hang', 'timeout'],
      ['reset', 'reset'],
      ['html', 'garbage'],
      ['shape', 'garbage'],
      ['huge', 'garbage'],
      ['5xx', 'http_status'],
      ['other', 'wrong_node'],
      // Nothing listens on 127.0.0.2 at this port (the agents are bound to 127.0.0.1 only).
      ['refused', 'refused', '127.0.0.2'],
    ];
    // Only the hanging agent is meant to hit the timeout; the others get one a loaded CI machine
    // cannot miss, so each case shows its own reason.
    const started = Date.now();
    let hangSettledMs = Number.POSITIVE_INFINITY;
    const results = await Promise.all(
      cases.map(async ([name, , ip]) => {
        const result = await pollAgent(url(name, ip), name, name === 'hang' ? 300 : 10_000);
        if (name === 'hang') hangSettledMs = Date.now() - started;
        return result;
      }),
    );
    for (const [i, [name, reason]] of cases.entries()) {
      const result = results[i]!;
      assert.equal(result.ok, false, name);
      if (!result.ok) assert.equal(result.reason, reason, `${name}: ${result.detail}`);
    }
    assert.ok(hangSettledMs < 2000, `the timeout bounds a hanging agent (${hangSettledMs} ms)`);
  });

  test("a node-metrics agent's flat percent document, read by its shape as fractions dated on receipt", async () => {
    agents.setBehaviour('nm', { kind: 'garbage', body: nodeMetricsFixture });
    const received = Date.UTC(2026, 10, 22, 6, 3, 0);
    const result = await pollAgent(url('nm'), 'nm', 1000, { nodeBoundAddress: true, now: () => received });
    assert.ok(result.ok, result.ok ? '' : result.detail);
    assert.equal(result.format, 'node-metrics');
    assert.deepEqual(result.stats.windows, {
      cpu_usage_active: 0.068,
      cpu_usage_avg_5m: 0.068,
      cpu_usage_max_avg_1h: 0.1245,
      cpu_usage_max_avg_1d: 0.382,
      mem_usage_active: 0.4137,
      mem_usage_avg_5m: 0.412,
      mem_usage_max_avg_1h: 0.4205,
      mem_usage_max_avg_1d: 0.559,
    });
    assert.equal(result.stats.timestampMs, received);
  });

  test('a node-metrics document from an address that is not the node’s alone is refused: it names no node', async () => {
    agents.setBehaviour('nm-shared', { kind: 'garbage', body: nodeMetricsFixture });
    const result = await pollAgent(url('nm-shared'), 'nm-shared', 1000, {
      nodeBoundAddress: false,
      now: Date.now,
    });
    assert.ok(!result.ok);
    assert.equal(result.reason, 'wrong_node');
    assert.match(result.detail, /names no node/);
  });

  test('a node-metrics-shaped document out of range is garbage, with the key and value', async () => {
    agents.setBehaviour('nm-bad', {
      kind: 'garbage',
      body: '{"cpu_usage_avg_5m": 0.5, "mem_usage_avg_5m": 180}',
    });
    agents.setBehaviour('nm-str', { kind: 'garbage', body: '{"cpu_usage_avg_5m": "6.8"}' });
    for (const [name, pattern] of [
      ['nm-bad', /mem_usage_avg_5m must be a percentage 0\.\.100, got 180/],
      ['nm-str', /cpu_usage_avg_5m must be a percentage/],
    ] as const) {
      const result = await pollAgent(url(name), name, 1000, { nodeBoundAddress: true, now: Date.now });
      assert.ok(!result.ok && result.reason === 'garbage', name);
      assert.match(result.detail, pattern);
    }
  });
});
