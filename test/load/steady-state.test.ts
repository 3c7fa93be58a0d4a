// The load half over simulated half hours: the controller (polling simulated agents, writing Node
// annotations and its "synced up to" record through the API-server double) and the extender
// (watching both, filtering and binding real pods) on one injected clock. A pod is offered every 5 s.
// - Steady: the node's real load stays at 0.30 whatever is bound (idle pods). It must keep
//   accepting for 30 minutes; without the record, the old failure mode (every binding blocking
//   its share until the controller happens to rewrite the figure) comes back and it jams.
// - Rising: the node's real load climbs by 0.015 a minute. It must accept while it is not hot and
//   refuse once its measured figure is over the threshold.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api } from '@kubernetes/client-node';
import { ManualClock } from '../../common/clock.ts';
import { createLogger } from '../../common/log.ts';
import { SchedulerApp } from '../../scheduler/app.ts';
import { FakeAgents } from '../agents/fake-agents.ts';
import { openTestCluster, type TestCluster } from '../apiserver/cluster.ts';
import { makeController, shippedPolicy, waitFor } from '../controller/harness.ts';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const STEP_MS = 5 * SECOND;
const SYNC_EVERY_STEPS = 6; // the controller's default 30 s period
const LIMIT = 0.65; // the shipped policy's cpu_usage_avg_5m threshold

interface Offer {
  minute: number;
  /** The cpu_usage_avg_5m the extender had for the node when the pod was offered. */
  figure: number;
  accepted: boolean;
  reason?: string;
}

describe('the load half over half an hour of simulated time', () => {
  let cluster: TestCluster;
  let agents: FakeAgents;
  let clock: ManualClock;

  before(async () => {
    clock = new ManualClock(Math.floor(Date.now() / SECOND) * SECOND);
    cluster = await openTestCluster();
    agents = await FakeAgents.start(clock);
  });
  after(async () => {
    await agents.close();
    await cluster.close();
  });

  /** Offers a pod every 5 s for `minutes` to one 16-core node whose load is `load(minute)`. */
  async function run(opts: { minutes: number; load: (minute: number) => number; record: boolean }) {
    const node = cluster.unique('steady');
    await cluster.createNode({
      metadata: { name: node, labels: { 'loadwise.io/test-run': cluster.namespace } },
      status: {
        addresses: [{ type: 'InternalIP', address: '127.0.0.1' }],
        allocatable: { cpu: '16', memory: '64Gi', pods: '1000' },
        capacity: { cpu: '16', memory: '64Gi', pods: '1000' },
      },
    });
    const start = clock.now();
    const minute = () => (clock.now() - start) / MINUTE;
    const setLoad = () => {
      const cpu = Math.min(1, opts.load(minute()));
      agents.setLoad(node, {
        cpu_usage_avg_5m: cpu,
        cpu_usage_max_avg_1h: cpu,
        cpu_usage_max_avg_1d: cpu,
        mem_usage_avg_5m: 0.3,
        mem_usage_max_avg_1h: 0.3,
        mem_usage_max_avg_1d: 0.3,
      });
    };
    setLoad();
    const { controller } = makeController(cluster, agents, clock, {
      syncPeriodMs: SYNC_EVERY_STEPS * STEP_MS,
      syncRecordNamespace: opts.record ? cluster.namespace : undefined,
    });
    const app = new SchedulerApp({
      kubeConfig: cluster.kubeConfig('extender'),
      policy: shippedPolicy(),
      craneKeys: false,
      clock,
      logger: createLogger({ level: 'silent', name: 'extender' }),
      apiTimeoutMs: 2000,
      syncRecordNamespace: opts.record ? cluster.namespace : undefined,
    });
    const core = cluster.kubeConfig('kube-scheduler').makeApiClient(CoreV1Api);
    const offers: Offer[] = [];
    await controller.start({ loop: false });
    app.start();
    try {
      await app.waitForSync(AbortSignal.timeout(10_000));
      for (let step = 0; step < (opts.minutes * MINUTE) / STEP_MS; step++) {
        if (step % SYNC_EVERY_STEPS === 0) {
          setLoad();
          await controller.syncOnce();
          // The extender sees what the controller wrote before the next pod: the Node's figures
          // and, with the record, the cycle's "synced up to".
          const written = await core.readNode({ name: node });
          await waitFor(
            () => app.nodes.get(node)?.resourceVersion === written.metadata?.resourceVersion,
            'the extender to see the Node as written',
          );
          if (opts.record)
            await waitFor(() => app.confirmedAt(node) >= clock.now() - 2 * SECOND, 'the record');
        }
        const name = `${node}-p${step}`;
        const pod = await core.createNamespacedPod({
          namespace: cluster.namespace,
          body: {
            metadata: { name, namespace: cluster.namespace },
            spec: {
              schedulerName: 'loadwise-scheduler',
              containers: [
                { name: 'c', image: 'pause', resources: { requests: { cpu: '500m', memory: '1Gi' } } },
              ],
            },
          },
        });
        const figure = app.nodes.get(node)?.figures.figures.cpu_usage_avg_5m?.value ?? Number.NaN;
        const verdict = app.extender.filter({ Pod: pod, NodeNames: [node] });
        const reason = verdict.FailedNodes?.[node];
        offers.push({ minute: minute(), figure, accepted: reason === undefined, reason });
        if (reason === undefined) {
          const bound = await app.extender.bind({
            PodName: name,
            PodNamespace: cluster.namespace,
            PodUID: pod.metadata!.uid!,
            Node: node,
          });
          assert.equal(bound.Error, '', `binding ${name}`);
        }
        clock.advance(STEP_MS);
      }
    } finally {
      await app.stop();
      await controller.stop();
    }
    return offers;
  }

  it('keeps accepting idle pods on a node whose real load stays below the threshold', async () => {
    const offers = await run({ minutes: 30, load: () => 0.3, record: true });
    assert.equal(offers.length, 360);
    const refused = offers.filter((o) => !o.accepted);
    assert.deepEqual(refused, [], 'a node at 0.30 real load refused pods');
  });

  it('jams without the synced-up-to record (what the record fixes)', async () => {
    const offers = await run({ minutes: 10, load: () => 0.3, record: false });
    const refused = offers.filter((o) => !o.accepted);
    assert.ok(refused.length > offers.length / 2, `only ${refused.length} of ${offers.length} refused`);
    assert.match(refused[0]!.reason!, /cpu_usage_avg_5m 0\.30 \+ 0\.\d+ pending > 0\.65/);
  });

  it('accepts while the node is not hot and refuses once its real load is over the threshold', async () => {
    const offers = await run({ minutes: 30, load: (m) => 0.3 + 0.015 * m, record: true });
    // Pods bound in the last sync or two are not in the figure yet: 12 a minute of 0.5 CPU on 16
    // cores is up to ~0.24 pending. Under that margin the node must always accept; nearer the
    // threshold it accepts at the rate the figure allows, never stops altogether until it is hot.
    const cool = offers.filter((o) => o.figure <= LIMIT - 0.25);
    const warm = offers.filter((o) => o.figure > LIMIT - 0.25 && o.figure <= LIMIT - 0.05);
    const hot = offers.filter((o) => o.figure > LIMIT);
    assert.ok(cool.length > 60 && hot.length > 50, `${cool.length} cool, ${hot.length} hot offers`);
    assert.deepEqual(
      cool.filter((o) => !o.accepted),
      [],
      'refused while at least 0.25 under the threshold',
    );
    const warmAccepted = warm.filter((o) => o.accepted).length;
    assert.ok(warmAccepted > warm.length / 4, `${warmAccepted} of ${warm.length} accepted on the way up`);
    for (const o of hot) {
      assert.equal(o.accepted, false, `accepted at ${o.figure} (minute ${o.minute})`);
      assert.match(o.reason!, /^cpu_usage_avg_5m 0\.\d+/);
    }
  });
});
