// Figures the extender must not believe, and pods its load filter must let through: over real
// HTTP with kube-scheduler-shaped bodies, scheduled one by one the way kube-scheduler does
// (filter → prioritize → bind), nodes and Bindings in the API-server double, on an injected clock.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, type V1Node, type V1Pod } from '@kubernetes/client-node';
import {
  DEFAULT_SCHEDULER_NAME,
  encodeFraction,
  EXTENDER_METRICS,
  type ExtenderFilterResult,
  figureAnnotationKey,
  VGPU_CORE_RESOURCE,
  VGPU_MEMORY_RESOURCE,
} from '../contracts/index.ts';
import { ManualClock } from '../common/clock.ts';
import { scheduleOne } from '../local/scheduling-cycle.ts';
import { openTestCluster, type TestCluster } from '../test/apiserver/cluster.ts';
import { startTestExtender, TWO_FIGURE_POLICY } from '../test/support/extender.ts';
import type { SchedulerApp } from './app.ts';

const NOW = Date.UTC(2026, 11, 3, 12, 0, 0);
const MIN = 60_000;

const POLICY = TWO_FIGURE_POLICY;

/** A node with both policy figures as `value`, dated by `stamp` (an RFC 3339 time) or a minute ago. */
function nodeWith(name: string, value: number, stamp?: string): V1Node {
  const encoded = stamp ? `${value.toFixed(5)},${stamp}` : encodeFraction(value, NOW - MIN);
  return {
    metadata: {
      name,
      annotations: {
        [figureAnnotationKey('cpu_usage_avg_5m')]: encoded,
        [figureAnnotationKey('mem_usage_avg_5m')]: encoded,
      },
    },
    status: { allocatable: { cpu: '16', memory: '64Gi', pods: '110' } },
  };
}

describe('extender: figures it must not believe, pods it must let through', () => {
  let cluster: TestCluster;
  let app: SchedulerApp;
  let base = '';
  let core: CoreV1Api;
  const clock = new ManualClock(NOW);
  const names: Record<string, string> = {};

  const pod = (
    name: string,
    extra: Partial<V1Pod['metadata']> = {},
    limits?: Record<string, string>,
  ): V1Pod => ({
    metadata: { name, namespace: cluster.namespace, uid: `uid-${name}`, ...extra },
    spec: {
      schedulerName: DEFAULT_SCHEDULER_NAME,
      containers: [
        {
          name: 'c',
          image: 'busybox',
          resources: { requests: { cpu: '250m', memory: '512Mi' }, ...(limits ? { limits } : {}) },
        },
      ],
    },
  });

  const filter = async (p: V1Pod, nodes: string[]): Promise<ExtenderFilterResult> => {
    const res = await fetch(`${base}/filter`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ Pod: p, NodeNames: nodes }),
    });
    assert.equal(res.status, 200);
    return (await res.json()) as ExtenderFilterResult;
  };

  const metric = async (name: string, labels: string): Promise<number> => {
    const text = await (await fetch(`${base}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}} `));
    return line ? Number(line.split(' ')[1]) : 0;
  };

  before(async () => {
    cluster = await openTestCluster();
    core = cluster.kubeConfig('setup').makeApiClient(CoreV1Api);
    const anHourAgo = `${new Date(NOW - 60 * MIN).toISOString().slice(0, 19)}Z`;
    const nodes: [string, number, string?][] = [
      // The attack: 0.00 "as of" 2099, next to an honest node at 0.30.
      ['forged', 0, '2099-01-01T00:00:00Z'],
      ['honest', 0.3],
      // Its agent died an hour ago, when the node was idle.
      ['silent', 0, anHourAgo],
      ['busy', 0.55],
      ['hot', 0.91],
    ];
    for (const [key, value, stamp] of nodes) {
      names[key] = cluster.unique(key);
      await cluster.createNode(nodeWith(names[key], value, stamp));
    }
    ({ app, base } = await startTestExtender(cluster, POLICY, clock));
  });
  after(async () => {
    await app.stop();
    await cluster.close();
  });

  it('a node claiming 0.00 as of 2099 attracts no pod away from an honest node at 0.30', async () => {
    const { forged, honest } = names as { forged: string; honest: string };
    const placed: Record<string, number> = {};
    for (let i = 0; i < 12; i++) {
      const p = pod(`attack-${i}`);
      await core.createNamespacedPod({ namespace: cluster.namespace, body: p });
      const decision = await scheduleOne(p, [forged, honest], { extender: base });
      assert.equal(decision.error, undefined, JSON.stringify(decision));
      placed[decision.node!] = (placed[decision.node!] ?? 0) + 1;
      assert.ok(decision.scores[honest]! > decision.scores[forged]!, JSON.stringify(decision.scores));
      clock.advance(5_000);
    }
    assert.deepEqual(placed, { [honest]: 12 });
    const stored = await core.readNamespacedPod({ name: 'attack-11', namespace: cluster.namespace });
    assert.equal(stored.spec?.nodeName, honest);
    // Each call saw the forged node's two figures and did not believe them.
    const future = (verb: string) => metric(EXTENDER_METRICS.staleFigures, `verb="${verb}",reason="future"`);
    assert.equal(await future('filter'), 24);
    assert.equal(await future('prioritize'), 24);
  });

  it('a node whose figures stopped coming scores below a busy node whose figures are fresh', async () => {
    const { silent, busy } = names as { silent: string; busy: string };
    const decision = await scheduleOne(pod('after-death'), [silent, busy], { extender: base });
    assert.equal(decision.scores[silent], 0);
    assert.ok(decision.scores[busy]! > 0, JSON.stringify(decision.scores));
    assert.ok((await metric(EXTENDER_METRICS.staleFigures, 'verb="prioritize",reason="expired"')) >= 2);
  });

  it('a DaemonSet pod passes the load filter on a hot node; other pods, and look-alikes, do not', async () => {
    const hot = names.hot!;
    const owner = { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'kube-proxy', uid: 'ds-uid' };
    const daemon = pod('kube-proxy-x', {
      ownerReferences: [{ ...owner, controller: true, blockOwnerDeletion: true }],
    });
    const plain = pod('plain');
    const lookalike = pod('lookalike', { ownerReferences: [owner] });
    const otherGroup = pod('other-group', {
      ownerReferences: [{ ...owner, apiVersion: 'example.com/v1', controller: true }],
    });
    assert.deepEqual((await filter(daemon, [hot])).NodeNames, [hot]);
    for (const p of [plain, lookalike, otherGroup]) {
      const result = await filter(p, [hot]);
      assert.deepEqual(result.NodeNames, [], p.metadata!.name);
      assert.equal(result.FailedNodes[hot], 'cpu_usage_avg_5m 0.91 > 0.65');
    }
    // It is bound there through the API like any pod.
    await core.createNamespacedPod({ namespace: cluster.namespace, body: daemon });
    const decision = await scheduleOne(daemon, [hot], { extender: base });
    assert.equal(decision.node, hot, decision.error);
  });

  it('a DaemonSet pod still goes through GPU fit', async () => {
    const hot = names.hot!;
    const gpuDaemon = pod(
      'gpu-exporter',
      {
        ownerReferences: [
          { apiVersion: 'apps/v1', kind: 'DaemonSet', name: 'g', uid: 'g', controller: true },
        ],
      },
      { [VGPU_CORE_RESOURCE]: '50', [VGPU_MEMORY_RESOURCE]: '4' },
    );
    const result = await filter(gpuDaemon, [hot]);
    assert.deepEqual(result.NodeNames, []);
    assert.equal(result.FailedNodes[hot], 'node has no GPU inventory', 'refused on GPU fit, not on load');
  });
});
