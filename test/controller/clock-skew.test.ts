// A node whose clock is a day fast, through the whole figure path: its agent (dating by its own
// clock) → the controller → Node annotations in the API-server double → the extender's watch →
// /filter over HTTP. Twenty simulated minutes on one injected clock: the node is refused while it
// is really hot and accepted again once it cools, so its skewed clock neither freezes its figures
// nor makes them unbelievable.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, test } from 'node:test';
import type { V1Pod } from '@kubernetes/client-node';
import { ManualClock } from '../../common/clock.ts';
import type { ExtenderFilterResult } from '../../contracts/index.ts';
import { FakeAgents } from '../agents/fake-agents.ts';
import { openTestCluster, type TestCluster } from '../apiserver/cluster.ts';
import { startTestExtender } from '../support/extender.ts';
import { addNode, makeController, shippedPolicy, waitFor } from './harness.ts';

const SECOND = 1000;
const DAY = 24 * 3600 * SECOND;

describe('a node clock a day fast, agent to extender', () => {
  let cluster: TestCluster;
  let agents: FakeAgents;
  const cleanups: Array<() => Promise<void>> = [];

  beforeEach(async () => {
    cluster = await openTestCluster();
  });
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
    await agents.close();
    await cluster.close();
  });

  test('its figures follow its real load for twenty minutes: refused while hot, accepted once cool', async () => {
    const clock = new ManualClock(Math.floor(Date.now() / SECOND) * SECOND);
    agents = await FakeAgents.start(clock);
    const fast = cluster.unique('fast');
    await addNode(cluster, fast);
    agents.setBehaviour(fast, { kind: 'ok', clockAheadMs: DAY });
    const policyText = readFileSync(new URL('../../configs/policy.yaml', import.meta.url), 'utf8');
    const { controller } = makeController(cluster, agents, clock, {
      policy: shippedPolicy({ hotValue: false }),
    });
    cleanups.push(() => controller.stop());
    await controller.start({ loop: false });
    const { app, base } = await startTestExtender(cluster, policyText, clock);
    cleanups.push(() => app.stop());
    const pod: V1Pod = {
      metadata: { name: 'probe', namespace: cluster.namespace, uid: 'probe' },
      spec: { containers: [{ name: 'c', image: 'busybox', resources: { requests: { cpu: '100m' } } }] },
    };
    const verdicts: string[] = [];
    for (let tick = 0; tick < 40; tick++) {
      // Cool for five minutes, hot for ten, cool again.
      const load = tick >= 10 && tick < 30 ? 0.9 : 0.2;
      agents.setLoad(fast, { cpu_usage_avg_5m: load, mem_usage_avg_5m: 0.3 });
      await controller.syncOnce();
      await waitFor(
        () => app.nodes.get(fast)?.figures.figures.cpu_usage_avg_5m?.value === load,
        `the extender to see ${load} on the node at tick ${tick}`,
      );
      const res = await fetch(`${base}/filter`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ Pod: pod, NodeNames: [fast] }),
      });
      const result = (await res.json()) as ExtenderFilterResult;
      const accepted = result.NodeNames?.includes(fast) === true;
      verdicts.push(accepted ? 'a' : 'r');
      assert.equal(
        accepted,
        load < 0.65,
        `tick ${tick}: load ${load}, ${JSON.stringify(result.FailedNodes)}`,
      );
      clock.advance(30 * SECOND);
    }
    assert.equal(verdicts.join(''), `${'a'.repeat(10)}${'r'.repeat(20)}${'a'.repeat(10)}`);
  });
});
