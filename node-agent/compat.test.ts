// `--compat node-metrics`: the agent answers crane-scheduler-plus's reads as node-metrics would,
// while loadwise's controller still gets loadwise's document from the same agent.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../common/clock.ts';
import {
  AGENT_PATHS,
  LOADWISE_STATISTICS_MEDIA_TYPE,
  NODE_METRICS_FIGURES,
  parseNodeMetricsStatistics,
} from '../contracts/index.ts';
import { parseStatistics } from '../contracts/statistics-parser.ts';
import { FakeProc } from '../doubles/fake-proc.ts';
import { agentOn } from '../test/support/agent.ts';

const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);

/**
 * An agent in `compat` mode on a loopback port, sampled twice (CPU 25 % busy, memory 60 % used),
 * for the enclosing describe; returns its base URL once `before` has run.
 */
function servingAgent(compat: 'none' | 'node-metrics'): () => string {
  const proc = new FakeProc();
  const clock = new ManualClock(T0);
  const agent = agentOn(proc, clock, { compat });
  let base = '';
  before(async () => {
    base = await agent.listen('127.0.0.1', 0);
    proc.setMemory(1000, 400);
    agent.sample();
    clock.advance(10_000);
    proc.runFor(1000, 250);
    agent.sample();
  });
  after(async () => {
    await agent.stop();
    proc.cleanup();
  });
  return () => base;
}

describe('agent --compat node-metrics', () => {
  const url = servingAgent('node-metrics');

  it("answers GET /statistics as node-metrics does: a flat object of percentages, crane-scheduler-plus's eight keys at least", async () => {
    // What crane-scheduler-plus's controller sends: a plain GET, no loadwise media type.
    const res = await fetch(`${url()}${AGENT_PATHS.statistics}`, { headers: { accept: 'application/json' } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
    assert.equal(res.headers.get('vary'), 'Accept');
    const body = (await res.json()) as Record<string, number>;
    for (const key of NODE_METRICS_FIGURES) assert.equal(typeof body[key], 'number', key);
    assert.equal(body.cpu_usage_active, 25);
    assert.equal(body.cpu_usage_avg_5m, 25);
    assert.equal(body.mem_usage_avg_5m, 60);
    assert.equal(body.mem_usage_max_avg_1d, 60);
    assert.equal(body.cpu_usage_avg_1m, 25, 'any other figure the agent has rides along');
    assert.ok(!('windows' in body) && !('node' in body), 'flat: no loadwise fields');
    // The document reads back, through the parser loadwise's controller uses, as the same fractions.
    const parsed = parseNodeMetricsStatistics(body, T0);
    assert.ok(parsed.ok);
    assert.equal(parsed.stats.windows.cpu_usage_avg_5m, 0.25);
  });

  it("still serves loadwise's document to loadwise's controller: by media type, and on the versioned path", async () => {
    const negotiated = await fetch(`${url()}${AGENT_PATHS.statistics}`, {
      headers: { accept: `${LOADWISE_STATISTICS_MEDIA_TYPE}, application/json;q=0.9` },
    });
    assert.equal(negotiated.headers.get('content-type')?.split(';')[0], LOADWISE_STATISTICS_MEDIA_TYPE);
    const versioned = await fetch(`${url()}${AGENT_PATHS.statisticsV1}`);
    for (const res of [negotiated, versioned]) {
      assert.equal(res.status, 200);
      const parsed = parseStatistics(await res.json());
      assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
      assert.equal(parsed.stats.node, 'node-a', 'with the node name, so a mis-addressed agent is caught');
      assert.equal(parsed.stats.windows.cpu_usage_avg_5m, 0.25);
    }
  });

  it("adds node-metrics' node_<figure> gauges in percent to /metrics, beside loadwise's fractions", async () => {
    const text = await (await fetch(`${url()}${AGENT_PATHS.metrics}`)).text();
    assert.match(text, /^# TYPE node_cpu_usage_avg_5m gauge$/m);
    assert.match(text, /^node_cpu_usage_avg_5m 25$/m);
    assert.match(text, /^node_mem_usage_max_avg_1d 60$/m);
    assert.match(text, /^loadwise_node_cpu_usage_avg_5m\{node="node-a"\} 0\.25$/m);
  });

  it('refuses writes on every statistics path, as in loadwise mode', async () => {
    for (const path of [AGENT_PATHS.statistics, AGENT_PATHS.statisticsV1]) {
      const res = await fetch(`${url()}${path}`, { method: 'POST', body: '{}' });
      assert.equal(res.status, 405, path);
    }
  });
});

describe('agent without --compat', () => {
  const url = servingAgent('none');

  it("serves loadwise's document on both paths and no node-metrics gauges", async () => {
    for (const path of [AGENT_PATHS.statistics, AGENT_PATHS.statisticsV1]) {
      const parsed = parseStatistics(await (await fetch(`${url()}${path}`)).json());
      assert.ok(parsed.ok && parsed.stats.node === 'node-a', path);
    }
    const text = await (await fetch(`${url()}${AGENT_PATHS.metrics}`)).text();
    assert.doesNotMatch(text, /^node_cpu_usage_avg_5m/m);
  });
});
