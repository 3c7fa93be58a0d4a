// The charts' history over a long run, on an injected clock: memory stays bounded, the newest hour
// is kept, and "unschedulable in the last minute" settles at the real rate.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../common/clock.ts';
import { HISTORY_CAPACITY, HISTORY_PERIOD_MS, StatusHistory } from './status-history.ts';
import type { ClusterStatus, NodeStatus } from './status.ts';

function node(name: string, cpu: number, gpus: Array<{ core: number; util?: number }> = []): NodeStatus {
  return {
    name,
    simulated: true,
    agentUrl: 'http://127.0.0.2:1',
    annotations: {},
    agentWindows: { cpu_usage_active: cpu, mem_usage_active: 0.5 },
    gpus: gpus.map((g, index) => ({
      index,
      uuid: `GPU-${index}`,
      model: 'Tesla T4',
      memoryMiB: 15360,
      allocated: { core: g.core, memoryMiB: 0 },
      ...(g.util === undefined ? {} : { utilization: g.util }),
    })) as unknown as NodeStatus['gpus'],
    pods: {},
  };
}

function status(unschedulable: number, nodes: NodeStatus[]): ClusterStatus {
  return {
    generatedAt: '',
    generatedAtMs: 0,
    apiServer: '',
    kubeconfig: '',
    extender: '',
    workload: { submitted: 0, bound: 0, unschedulable, startFailed: 0, running: 0 },
    pods: { bound: 3, waiting: 1, unschedulable: 0 },
    nodes,
    decisions: [],
  };
}

describe('status history', () => {
  it('over 90 simulated minutes keeps the newest hour, evenly spaced, and a steady refusal rate', () => {
    const clock = new ManualClock(Date.parse('2026-12-03T10:00:00Z'));
    const history = new StatusHistory(clock);
    let refused = 0;
    const start = clock.now();
    for (let t = 0; t <= 90 * 60_000; t += HISTORY_PERIOD_MS) {
      clock.set(start + t);
      if (t % 10_000 === 0) refused++; // one unschedulable pod every 10 s
      history.record(status(refused, [node('a', (t / 60_000) % 1)]));
    }
    const points = history.since();
    assert.equal(points.length, HISTORY_CAPACITY);
    assert.equal(points.at(-1)!.t, clock.now());
    assert.equal(points[0]!.t, clock.now() - (HISTORY_CAPACITY - 1) * HISTORY_PERIOD_MS);
    assert.ok(points.every((p, i) => i === 0 || p.t - points[i - 1]!.t === HISTORY_PERIOD_MS));
    assert.ok(
      points.every((p) => p.pods.unschedulable === 6),
      'six refusals a minute, read as six',
    );
    assert.deepEqual(points.at(-1)!.pods, { bound: 3, waiting: 1, unschedulable: 6 });
    // A page that already has everything up to t gets only the newer points.
    assert.deepEqual(history.since(points.at(-3)!.t), points.slice(-2));
    assert.deepEqual(history.since(clock.now()), []);
  });

  it('counts refusals only once a minute has passed since them, from the first sample on', () => {
    const clock = new ManualClock(0);
    const history = new StatusHistory(clock);
    assert.equal(history.record(status(40, [])).pods.unschedulable, 0, 'refusals before the first sample');
    clock.advance(30_000);
    assert.equal(history.record(status(45, [])).pods.unschedulable, 5);
    clock.advance(40_000);
    assert.equal(history.record(status(45, [])).pods.unschedulable, 5, 'the sample 70 s ago is the base');
    clock.advance(60_000);
    assert.equal(history.record(status(45, [])).pods.unschedulable, 0);
  });

  it('GPU share over every GPU: allocated (a whole GPU at most each) against measured utilisation', () => {
    const history = new StatusHistory(new ManualClock(0));
    const p = history.record(
      status(0, [
        node('a', 0.1, [{ core: 50, util: 0.2 }, { core: 100 }]),
        node('b', 0.1, [{ core: 0, util: 0.4 }]),
      ]),
    );
    assert.ok(Math.abs(p.gpu!.allocated - 0.5) < 1e-9);
    assert.ok(Math.abs(p.gpu!.utilised! - 0.3) < 1e-9);
    assert.equal(history.record(status(0, [node('c', 0.3)])).gpu, undefined, 'no GPUs: no GPU series');
  });
});
