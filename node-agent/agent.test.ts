import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { ErrorBody } from '../common/http.ts';
import { AGENT_METRICS, type Statistics } from '../contracts/index.ts';
import { parseStatistics } from '../contracts/statistics-parser.ts';
import { testAgent } from '../test/support/agent.ts';

const T0 = Date.UTC(2026, 10, 22, 6, 0, 0);

/** Sends raw bytes and resolves with whatever the server answers before closing. */
function rawRequest(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setTimeout(5000, () => socket.destroy(new Error('no answer')));
    socket.on('data', (chunk) => {
      data += chunk.toString();
    });
    socket.on('end', () => resolve(data));
    socket.on('close', () => resolve(data));
    socket.on('error', reject);
    socket.end(bytes);
  });
}

/** A test agent listening on loopback for the enclosing describe, and a GET against it. */
function listeningAgent() {
  const parts = testAgent(T0);
  let base = '';
  before(async () => {
    base = await parts.agent.listen('127.0.0.1', 0);
  });
  after(async () => {
    await parts.agent.stop();
    parts.proc.cleanup();
  });
  const get = (path: string, init?: RequestInit) => fetch(`${base}${path}`, init);
  /** Two samples 10 s apart (CPU 25 % busy between them, memory 60 % used), then 3.5 s later. */
  const twoSamples = () => {
    parts.proc.setMemory(1000, 400);
    parts.agent.sample();
    parts.clock.advance(10_000);
    parts.proc.runFor(1000, 250);
    parts.agent.sample();
    parts.clock.advance(3_500);
  };
  return { ...parts, get, twoSamples, port: () => Number(new URL(base).port) };
}

describe('node agent over HTTP', () => {
  const { agent, proc, clock, get, twoSamples, port } = listeningAgent();

  it('is alive at once, and not ready before a good sample', async () => {
    assert.equal((await get('/healthz')).status, 200);
    const ready = await get('/readyz');
    assert.equal(ready.status, 503);
    assert.match(((await ready.json()) as ErrorBody).message, /no good sample/);
    const stats = await get('/statistics');
    assert.equal(stats.status, 503);
    assert.equal(stats.headers.get('content-type'), 'application/json; charset=utf-8');
  });

  it('exports no figure before there is data (absent, never 0)', async () => {
    const text = await (await get('/metrics')).text();
    assert.doesNotMatch(text, /^loadwise_node_cpu_usage_avg_5m\{/m);
    assert.match(text, /^# TYPE loadwise_node_cpu_usage_avg_5m gauge$/m);
  });

  it('serves the windows once sampled, in the contract format', async () => {
    twoSamples();

    assert.equal((await get('/readyz')).status, 200);
    const res = await get('/statistics');
    assert.equal(res.status, 200);
    const body = await res.json();
    const parsed = parseStatistics(body);
    assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
    assert.equal(parsed.stats.node, 'node-a');
    assert.equal(parsed.stats.timestampMs, T0 + 10_000);
    assert.equal(parsed.stats.sampleAgeSeconds, 3.5);
    assert.equal(parsed.stats.sampleIntervalSeconds, 10);
    assert.equal(parsed.stats.windows.cpu_usage_active, 0.25);
    assert.equal(parsed.stats.windows.cpu_usage_avg_5m, 0.25);
    assert.equal(parsed.stats.windows.mem_usage_avg_5m, 0.6);
    assert.equal(parsed.stats.coverageSeconds.cpu_usage_max_avg_1d, 10);
    assert.equal(parsed.stats.coverageSeconds.mem_usage_max_avg_1d, 20);
  });

  it('exports the same figures and the sample counters on /metrics', async () => {
    const res = await get('/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^loadwise_node_cpu_usage_avg_5m\{node="node-a"\} 0\.25$/m);
    assert.match(text, /^loadwise_node_mem_usage_max_avg_1d\{node="node-a"\} 0\.6$/m);
    assert.match(
      text,
      /^loadwise_node_window_coverage_seconds\{node="node-a",figure="cpu_usage_max_avg_1d"\} 10$/m,
    );
    assert.match(text, new RegExp(`^${AGENT_METRICS.samples} 2$`, 'm'));
    assert.match(text, new RegExp(`^${AGENT_METRICS.sampleAge}\\{node="node-a"\\} 3\\.5$`, 'm'));
    assert.match(text, /^process_resident_memory_bytes \d+/m);
  });

  it('counts a failed sample by reason and keeps serving the last good figures', async () => {
    proc.write('stat', 'cpu  garbage\n');
    clock.advance(10_000);
    agent.sample();
    const text = await (await get('/metrics')).text();
    assert.match(
      text,
      new RegExp(`^${AGENT_METRICS.sampleFailures}\\{source="stat",reason="malformed"\\} 1$`, 'm'),
    );
    assert.match(
      text,
      new RegExp(`^${AGENT_METRICS.sampleFailures}\\{source="stat",reason="truncated"\\} 0$`, 'm'),
    );
    const body = (await (await get('/statistics')).json()) as Statistics;
    assert.equal(body.windows.cpu_usage_active, 0.25);
  });

  it('answers an unknown path with 404 JSON and a wrong method with 405 and Allow', async () => {
    const missing = await get('/statistics/extra');
    assert.equal(missing.status, 404);
    assert.deepEqual(await missing.json(), {
      error: 'Not Found',
      message: 'no route for GET /statistics/extra',
    });
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await get('/statistics', { method, body: method === 'DELETE' ? undefined : '{}' });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.get('allow'), 'GET, HEAD');
      assert.match(
        ((await res.json()) as ErrorBody).message,
        new RegExp(`${method} is not allowed on /statistics`),
      );
    }
    assert.equal((await get('/metrics', { method: 'HEAD' })).status, 200);
  });

  it('refuses an oversized body and garbage on the wire, and keeps serving', async () => {
    const big = await get('/statistics', { method: 'POST', body: 'x'.repeat(100_000) });
    assert.equal(big.status, 413);
    const answer = await rawRequest(port(), 'THIS IS NOT HTTP\r\n\r\n');
    assert.match(answer, /^HTTP\/1\.1 400/);
    const longUrl = await get(`/statistics?${'a'.repeat(20_000)}`);
    assert.equal(longUrl.status, 431);
    assert.equal((await get('/statistics')).status, 200);
  });
});

describe('node agent /statistics text', () => {
  const { agent, proc, clock, get, twoSamples } = listeningAgent();

  it('serves the document prepared at the sample with the age as of the request, and refreshes it at the next sample', async () => {
    const text = async (path: string) => {
      const res = await get(path);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/json; charset=utf-8');
      return res.text();
    };
    twoSamples();
    // The prepared text is the document itself, byte for byte, on both paths.
    assert.equal(await text('/statistics'), JSON.stringify(agent.statistics()));
    assert.equal(await text('/loadwise/v1/statistics'), JSON.stringify(agent.statistics()));
    clock.advance(1_234);
    const older = JSON.parse(await text('/statistics')) as Statistics;
    assert.equal(older.sampleAgeSeconds, 4.734);
    proc.runFor(1000, 750);
    agent.sample();
    const fresh = JSON.parse(await text('/statistics')) as Statistics;
    assert.equal(fresh.sampleAgeSeconds, 0);
    assert.equal(fresh.windows.cpu_usage_active, 0.75);
    assert.notEqual(fresh.timestamp, older.timestamp);
    assert.equal(JSON.stringify(fresh), JSON.stringify(agent.statistics()));
  });
});
