// Property tests of the extender's and the agent's HTTP endpoints over a real socket (issue 13,
// item 7): whatever the method, path, content type or body, the answer is a status below 500
// with a JSON message for every error, and the server keeps serving. Fixed seed, bounded runs.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { ManualClock } from '../../common/clock.ts';
import type { SchedulerApp } from '../../scheduler/app.ts';
import { openTestCluster, type TestCluster } from '../apiserver/cluster.ts';
import { testAgent } from '../support/agent.ts';
import { CPU_POLICY, startTestExtender, vgpuPodFixture } from '../support/extender.ts';
import { fuzz, hostileString } from '../support/fuzz.ts';

const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);

interface Sent {
  method: string;
  path: string;
  contentType: string;
  body: string | undefined;
}

/** Sends one request; fails the property on a 5xx, or on an error answer without a JSON message. */
async function check(base: string, r: Sent): Promise<void> {
  const res = await fetch(`${base}${r.path}`, {
    method: r.method,
    headers: r.body === undefined ? {} : { 'content-type': r.contentType },
    body: r.method === 'GET' || r.method === 'HEAD' ? undefined : r.body,
  });
  const text = await res.text();
  assert.ok(res.status < 500, `${r.method} ${r.path} answered ${res.status}: ${text.slice(0, 300)}`);
  if (res.status >= 400 && r.method !== 'HEAD') {
    const parsed = JSON.parse(text) as { message?: unknown };
    assert.equal(typeof parsed.message, 'string', `${res.status} without a message: ${text.slice(0, 300)}`);
  }
}

const methods = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD');
const contentTypes = fc.constantFrom(
  'application/json',
  'application/json; charset=utf-8',
  'text/plain',
  'application/x-www-form-urlencoded',
  'application/octet-stream',
);
/** Any method, one of `paths`, any content type and any body or none: never a 500, still alive after. */
async function assertAnyRequestServed(base: string, paths: fc.Arbitrary<string>): Promise<void> {
  const body = fc.option(hostileString, { nil: undefined });
  await fc.assert(
    fc.asyncProperty(methods, paths, contentTypes, body, async (method, path, contentType, text) => {
      await check(base, { method, path, contentType, body: text });
    }),
    fuzz(400, 60_000),
  );
  assert.equal((await fetch(`${base}/healthz`)).status, 200);
}

/** A JSON value with `at` replaced: how a valid body goes wrong in one place. */
function mutate(valid: Record<string, unknown>): fc.Arbitrary<unknown> {
  const paths: string[][] = [];
  const walk = (v: unknown, path: string[]) => {
    paths.push(path);
    if (v && typeof v === 'object')
      for (const [k, child] of Object.entries(v as Record<string, unknown>)) walk(child, [...path, k]);
  };
  walk(valid, []);
  return fc.tuple(fc.constantFrom(...paths), fc.jsonValue({ maxDepth: 3 })).map(([path, value]) => {
    if (path.length === 0) return value;
    const copy = structuredClone(valid);
    let at: Record<string, unknown> = copy;
    for (const k of path.slice(0, -1)) at = at[k] as Record<string, unknown>;
    at[path[path.length - 1]!] = value;
    return copy;
  });
}

describe('extender endpoints under fuzzing', () => {
  let cluster: TestCluster;
  let app: SchedulerApp;
  let base = '';

  before(async () => {
    cluster = await openTestCluster();
    ({ app, base } = await startTestExtender(cluster, CPU_POLICY, new ManualClock(NOW)));
  });
  after(async () => {
    await app.stop();
    await cluster.close();
  });

  it('never answers 500 to any JSON, or to a valid verb body broken in one place', async () => {
    const pod = vgpuPodFixture(cluster.namespace, 'p', '30') as unknown as Record<string, unknown>;
    const filterArgs = { Pod: pod, NodeNames: ['n1', 'n2'] };
    const nodeArgs = {
      Pod: pod,
      Nodes: {
        items: [{ metadata: { name: 'n1', annotations: {} }, status: { allocatable: { cpu: '4' } } }],
      },
    };
    const bindArgs = { PodName: 'p', PodNamespace: cluster.namespace, PodUID: 'u', Node: 'n1' };
    let cases = 0;
    const body = fc.oneof(
      fc.jsonValue({ maxDepth: 4 }),
      mutate(filterArgs),
      mutate(nodeArgs),
      mutate(bindArgs),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('/filter', '/prioritize', '/bind'), body, async (path, value) => {
        // A fresh UID per case: the extender parses a pod once per UID, so a repeated one would
        // only ever exercise the first body's parse.
        const meta = (value as { Pod?: { metadata?: unknown } } | null)?.Pod?.metadata;
        if (meta && typeof meta === 'object' && !Array.isArray(meta))
          (meta as { uid?: unknown }).uid = `u-${++cases}`;
        await check(base, {
          method: 'POST',
          path,
          contentType: 'application/json',
          body: JSON.stringify(value),
        });
      }),
      fuzz(400, 60_000),
    );
  });

  it('never answers 500 to any method, path, content type or raw body', async () => {
    const paths = fc.oneof(
      fc.constantFrom(
        '/filter',
        '/prioritize',
        '/bind',
        '/healthz',
        '/readyz',
        '/metrics',
        '/',
        '/filter?x=1',
      ),
      fc.webPath().map((p) => p || '/'),
    );
    await assertAnyRequestServed(base, paths);
  });
});

describe('agent endpoints under fuzzing', () => {
  const { agent, proc, clock } = testAgent(NOW);
  let base = '';

  before(async () => {
    // Two samples, so /statistics serves figures rather than 503.
    proc.setMemory(1000, 400);
    agent.sample();
    clock.advance(10_000);
    proc.runFor(1000, 250);
    agent.sample();
    base = await agent.listen('127.0.0.1', 0);
    assert.equal((await fetch(`${base}/statistics`)).status, 200);
  });
  after(async () => {
    await agent.stop();
    proc.cleanup();
  });

  it('never answers 500 to any method, path, query, content type or body', async () => {
    const paths = fc.oneof(
      fc.constantFrom(
        '/statistics',
        '/metrics',
        '/healthz',
        '/readyz',
        '/statistics?window=1d',
        '/loadwise/v1/statistics',
        '/',
      ),
      fc.webPath().map((p) => p || '/'),
      fc
        .tuple(fc.constantFrom('/statistics', '/metrics'), fc.webQueryParameters())
        .map(([p, q]) => `${p}?${q}`),
    );
    await assertAnyRequestServed(base, paths);
  });
});
