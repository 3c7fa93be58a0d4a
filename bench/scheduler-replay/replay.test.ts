// The replay benchmark's harness, run small so it cannot rot: real extender, real do-nothing
// server, API-server double in its own process. No wall-clock assertions: what it checks is that
// every pod lands on the host the replay picked and that the figures are printed.
import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { type Bundles, buildBundles } from './children.ts';
import { formatScenario, scenarios } from '../scheduler-replay.ts';
import { feasibleNodesToFind, NodeWindow } from './replay.ts';
import { runScenario, type ScenarioOptions } from './scenario.ts';

const small = {
  nodes: 150,
  pods: 4,
  gpuNodes: 120,
  gpuPods: 3,
  warmup: 2,
  rounds: 2,
  apiLatencyMs: 1,
  bindConcurrency: 4,
};

describe('scheduler replay benchmark', () => {
  let bundles: Bundles;
  before(async () => {
    bundles = await buildBundles('dist/test/replay');
  });

  it("walks kube-scheduler's share of the nodes from a rotating start", () => {
    assert.equal(feasibleNodesToFind(1000), 420);
    assert.equal(feasibleNodesToFind(200), 100);
    assert.equal(feasibleNodesToFind(5000), 500);
    assert.equal(feasibleNodesToFind(60), 60);
    const window = new NodeWindow(Array.from({ length: 150 }, (_, i) => `n${i}`));
    assert.deepEqual(window.next().slice(0, 2), ['n0', 'n1']);
    const second = window.next();
    assert.deepEqual([second[0], second.at(-1)], ['n100', 'n49']);
  });

  for (const scenario of scenarios(small)) {
    it(`binds every ${scenario.label} on the host it picked and prints the figures`, async () => {
      const result = await runScenario(bundles, scenario);
      assert.equal(result.verified, 2 * (scenario.warmup + scenario.pods));
      for (const side of [result.extender, result.baseline]) {
        assert.equal(side.pods, scenario.pods);
        assert.equal(side.record.picked.size, scenario.pods);
        assert.equal(side.record.cycleMs.length, scenario.pods);
        assert.equal(side.record.bindMs.length, scenario.pods);
        assert.deepEqual(side.record.errors, []);
      }
      const text = formatScenario(result);
      for (const field of [
        'pods/s',
        'ratio',
        'filter + prioritize p50 ms',
        'filter + prioritize p99 ms',
        'filter p50 ms',
        'prioritize p99 ms',
        'bind (concurrent) p99 ms',
        'server CPU ms per pod',
        `API pod writes +${scenario.apiLatencyMs} ms`,
        'checked bound on the host the replay picked',
      ]) {
        assert.ok(text.includes(field), `output lacks "${field}":\n${text}`);
      }
    });
  }

  it('fails loudly when the extender refuses the binds', async () => {
    // An extender serving another scheduler's pods answers /bind with an Error: the replay must
    // say so rather than print figures for pods that were never bound.
    const cpu = scenarios(small)[0]!;
    const refusing: ScenarioOptions = { ...cpu, extenderFlags: ['--scheduler-name', 'someone-else'] };
    await assert.rejects(
      runScenario(bundles, refusing),
      /this extender binds pods of \\"someone-else\\"[\s\S]*picked node-\d+, bound to ""/,
    );
  });
});
