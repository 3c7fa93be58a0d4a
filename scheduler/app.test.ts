// The extender over real HTTP with kube-scheduler-shaped bodies, its Node cache fed by a watch on
// the API-server double (or a real cluster under LOADWISE_TEST_KUBECONFIG), binding through the API.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type V1Node, type V1Pod } from '@kubernetes/client-node';
import {
  DEFAULT_SCHEDULER_NAME,
  encodeFraction,
  type ExtenderFilterResult,
  type HostPriorityList,
  EXTENDER_METRICS,
} from '../contracts/index.ts';
import { ManualClock } from '../common/clock.ts';
import { parsePolicy } from '../common/policy.ts';
import { openTestCluster, type TestCluster } from '../test/apiserver/cluster.ts';
import { startTestExtender, TWO_FIGURE_POLICY } from '../test/support/extender.ts';
import type { SchedulerApp } from './app.ts';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
const MIN = 60_000;

const POLICY = TWO_FIGURE_POLICY;

describe('scheduler extender over HTTP', () => {
  let cluster: TestCluster;
  let app: SchedulerApp;
  let base = '';
  const clock = new ManualClock(NOW);
  const names: Record<string, string> = {};

  function node(key: string, cpu: number | string, mem: number): V1Node {
    names[key] = cluster.unique(key);
    return {
      metadata: {
        name: names[key],
        annotations: {
          'loadwise.io/cpu_usage_avg_5m': typeof cpu === 'string' ? cpu : encodeFraction(cpu, NOW - MIN),
          'loadwise.io/mem_usage_avg_5m': encodeFraction(mem, NOW - MIN),
        },
      },
      status: { allocatable: { cpu: '16', memory: '64Gi', pods: '110' } },
    };
  }

  const pod = (name: string): V1Pod => ({
    metadata: { name, namespace: cluster.namespace, uid: `uid-${name}` },
    spec: {
      schedulerName: DEFAULT_SCHEDULER_NAME,
      containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '2', memory: '4Gi' } } }],
    },
  });

  const post = async (path: string, body: unknown, raw = false) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: raw ? (body as string) : JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  before(async () => {
    cluster = await openTestCluster();
    for (const n of [
      node('idle', 0.1, 0.2),
      node('busy', 0.91, 0.3),
      node('garbage', 'NaN,yesterday', 0.2),
    ]) {
      await cluster.createNode(n);
    }
    ({ app, base } = await startTestExtender(cluster, POLICY, clock));
  });
  after(async () => {
    await app.stop();
    await cluster.close();
  });

  it('filters node names from its cache, with a reason per rejected node', async () => {
    const res = await post('/filter', {
      Pod: pod('p1'),
      NodeNames: [names.idle, names.busy, names.garbage, 'nowhere'],
    });
    assert.equal(res.status, 200);
    const result = res.body as unknown as ExtenderFilterResult;
    assert.deepEqual(result.NodeNames, [names.idle, names.garbage]);
    assert.equal(result.FailedNodes[names.busy!], 'cpu_usage_avg_5m 0.91 > 0.65');
    assert.match(result.FailedNodes.nowhere!, /not in the extender cache/);
    assert.equal(result.Error, '');
  });

  it('accepts full Nodes when not nodeCacheCapable, and answers in kind', async () => {
    const nodes = { items: [node('x1', 0.2, 0.2), node('x2', 0.7, 0.2)] };
    const res = await post('/filter', { Pod: pod('p2'), Nodes: nodes });
    const result = res.body as unknown as ExtenderFilterResult;
    assert.deepEqual(
      result.Nodes?.items.map((n) => n.metadata?.name),
      [names.x1],
    );
    assert.match(result.FailedNodes[names.x2!]!, /^cpu_usage_avg_5m 0\.70 > 0\.65$/);
  });

  it('scores 0..10, idle above busy, unknown at 0', async () => {
    const res = await post('/prioritize', { Pod: pod('p3'), NodeNames: [names.idle, names.busy, 'nowhere'] });
    assert.equal(res.status, 200);
    const list = res.body as unknown as HostPriorityList;
    const score = Object.fromEntries(list.map((h) => [h.Host, h.Score]));
    assert.ok(score[names.idle!]! > score[names.busy!]!, JSON.stringify(score));
    for (const s of Object.values(score)) assert.ok(Number.isInteger(s) && s >= 0 && s <= 10);
    assert.equal(score.nowhere, 0);
  });

  it('binds through the API and counts the pod on the node at once', async () => {
    const core = cluster.kubeConfig('setup').makeApiClient(CoreV1Api);
    await core.createNamespacedPod({ namespace: cluster.namespace, body: pod('bound') });
    const before = (await post('/prioritize', { Pod: pod('bound'), NodeNames: [names.idle] }))
      .body as unknown as HostPriorityList;
    const res = await post('/bind', {
      PodName: 'bound',
      PodNamespace: cluster.namespace,
      PodUID: 'uid-bound',
      Node: names.idle,
    });
    assert.deepEqual(res.body, { Error: '' });
    const stored = await core.readNamespacedPod({ name: 'bound', namespace: cluster.namespace });
    assert.equal(stored.spec?.nodeName, names.idle);
    assert.equal(app.recent.forNode(names.idle!, clock.now()).length, 1);
    const afterBind = (await post('/prioritize', { Pod: pod('next'), NodeNames: [names.idle] }))
      .body as unknown as HostPriorityList;
    assert.ok(afterBind[0]!.Score < before[0]!.Score, `${before[0]!.Score} -> ${afterBind[0]!.Score}`);
  });

  it('returns a refused bind as ExtenderBindingResult.Error', async () => {
    const res = await post('/bind', {
      PodName: 'no-such-pod',
      PodNamespace: cluster.namespace,
      PodUID: 'u',
      Node: names.idle,
    });
    assert.equal(res.status, 200);
    assert.match(String(res.body.Error), /binding .*no-such-pod to .*: refused: the pod does not exist/);
  });

  it('answers garbage with 400/413 and a JSON message, and keeps serving', async () => {
    const bad = await post('/filter', '{"Pod": ', true);
    assert.equal(bad.status, 400);
    assert.equal(typeof bad.body.message, 'string');
    const noPod = await post('/filter', { NodeNames: [names.idle] });
    assert.equal(noPod.status, 400);
    assert.match(String(noPod.body.message), /Pod/);
    const wrongType = await post('/prioritize', { Pod: pod('p'), NodeNames: 'all' });
    assert.equal(wrongType.status, 400);
    const big = await fetch(`${base}/filter`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: `{"Pod":{"metadata":{"name":"x"}},"pad":"${'x'.repeat(11 * 1024 * 1024)}"}`,
    });
    assert.equal(big.status, 413);
    const get = await fetch(`${base}/filter`);
    assert.equal(get.status, 405);
    const ok = await post('/filter', { Pod: pod('p4'), NodeNames: [names.idle] });
    assert.equal(ok.status, 200);
  });

  it('exports request counts, latency and rejections by reason', async () => {
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, new RegExp(`^${EXTENDER_METRICS.requests}\\{verb="filter",code="200"\\} \\d+`, 'm'));
    assert.match(text, new RegExp(`^${EXTENDER_METRICS.requests}\\{verb="filter",code="400"\\} 2`, 'm'));
    assert.match(
      text,
      new RegExp(`^${EXTENDER_METRICS.requestDuration}_bucket\\{le="0.001",verb="prioritize"\\}`, 'm'),
    );
    assert.match(
      text,
      new RegExp(`^${EXTENDER_METRICS.filterRejections}\\{reason="cpu_usage_avg_5m"\\} 2`, 'm'),
    );
    assert.match(text, new RegExp(`^${EXTENDER_METRICS.filterRejections}\\{reason="unknown_node"\\} 1`, 'm'));
    assert.match(text, new RegExp(`^${EXTENDER_METRICS.bindings}\\{result="ok"\\} 1`, 'm'));
  });

  it('answers every malformed pod or node it would read with 400 naming the field, never 500', async () => {
    const cases: [string, unknown, RegExp][] = [
      [
        'containers as an object',
        { Pod: { metadata: { name: 'x' }, spec: { containers: { name: 'c' } } }, NodeNames: [] },
        /containers must be array/,
      ],
      [
        'containers holding null',
        { Pod: { metadata: { name: 'x' }, spec: { containers: [null] } }, NodeNames: [] },
        /containers\/0 must be object/,
      ],
      [
        'resources as a string',
        { Pod: { metadata: { name: 'x' }, spec: { containers: [{ name: 'c', resources: 'big' }] } } },
        /resources must be object/,
      ],
      [
        'a quantity as an object',
        {
          Pod: {
            metadata: { name: 'x' },
            spec: { containers: [{ name: 'c', resources: { limits: { cpu: { v: 1 } } } }] },
          },
        },
        /limits\/cpu must be/,
      ],
      [
        'an annotation that is not a string',
        { Pod: { metadata: { name: 'x', annotations: { 'loadwise.io/gpu-model': 7 } } } },
        /annotations\/loadwise.io~1gpu-model must be string/,
      ],
      [
        'a node item without metadata',
        { Pod: pod('y'), Nodes: { items: [{}] } },
        /must have required property 'metadata'/,
      ],
      [
        'a node allocatable that is a list',
        { Pod: pod('y'), Nodes: { items: [{ metadata: { name: 'n' }, status: { allocatable: [1] } }] } },
        /allocatable must be object/,
      ],
      [
        'an empty node name',
        { Pod: pod('y'), NodeNames: [names.idle, ''] },
        /NodeNames\/1 must NOT have fewer than 1 characters/,
      ],
      [
        'a node name longer than 253',
        { Pod: pod('y'), NodeNames: ['n'.repeat(254)] },
        /NodeNames\/0 must NOT have more than 253 characters/,
      ],
      [
        'a node name of 200 emoji (400 UTF-16 code units)',
        { Pod: pod('y'), NodeNames: ['\u{1F600}'.repeat(200)] },
        /NodeNames\/0 must NOT have more than 253 characters/,
      ],
      ['a node name that is not a string', { Pod: pod('y'), NodeNames: [7] }, /NodeNames\/0 must be string/],
      [
        'an empty pod name',
        { Pod: { metadata: { name: '' } }, NodeNames: [] },
        /name must NOT have fewer than 1/,
      ],
    ];
    for (const [what, body, message] of cases) {
      for (const path of ['/filter', '/prioritize']) {
        const res = await post(path, body);
        assert.equal(res.status, 400, `${what} on ${path}: ${JSON.stringify(res.body)}`);
        assert.match(String(res.body.message), message, what);
      }
    }
    const deep = await post(
      '/filter',
      `{"Pod":{"metadata":{"name":"x"}},"Nodes":{"items":[${'{"a":'.repeat(100_000)}1${'}'.repeat(100_000)}]}}`,
      true,
    );
    assert.equal(deep.status, 400);
    assert.match(String(deep.body.message), /nests deeper than 100 levels/);
    assert.equal((await post('/filter', { Pod: pod('after'), NodeNames: [names.idle] })).status, 200);
  });

  it('applies a reloaded policy, and keeps the last good one when the new file is invalid', async () => {
    const stricter = POLICY.replace('maxLimitPercent: 0.65', 'maxLimitPercent: 0.05');
    assert.equal(app.applyPolicy(parsePolicy(stricter)), true);
    let res = await post('/filter', { Pod: pod('p5'), NodeNames: [names.idle] });
    assert.deepEqual((res.body as unknown as ExtenderFilterResult).NodeNames, []);
    assert.equal(app.applyPolicy(parsePolicy(stricter.replace('0.05', '5'))), false);
    assert.equal(app.applyPolicy(parsePolicy('kind: [')), false);
    res = await post('/filter', { Pod: pod('p6'), NodeNames: [names.idle] });
    assert.deepEqual(
      (res.body as unknown as ExtenderFilterResult).NodeNames,
      [],
      'still the stricter policy',
    );
    const text = await (await fetch(`${base}/metrics`)).text();
    assert.match(text, new RegExp(`^${EXTENDER_METRICS.policyReloads}\\{result="invalid"\\} 2`, 'm'));
    assert.equal(app.applyPolicy(parsePolicy(POLICY)), true);
  });
});
