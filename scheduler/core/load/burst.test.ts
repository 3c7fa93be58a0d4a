// A burst of identical pods through the load rules, the way kube-scheduler drives an extender:
// filter, score, pick the best (ties at random), bind — with no new figures arriving in between.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeFraction } from '../../../contracts/index.ts';
import type { PodDemand } from './demand.ts';
import { filterByLoad, type NodeLoad, scoreByLoad } from './index.ts';
import { decodeNodeFigures } from './node-figures.ts';
import { RecentBindings } from './recent-bindings.ts';
import { DEFAULT_ESTIMATE, DEFAULT_HOT_VALUE_PENALTY } from '../../../common/policy-defaults.ts';
import type { LoadRules } from './rules.ts';

const NOW = Date.UTC(2026, 10, 22, 12, 0, 0);
const MIN = 60_000;
const GiB = 2 ** 30;

const rules: LoadRules = {
  predicates: [
    { figure: 'cpu_usage_avg_5m', limit: 0.65 },
    { figure: 'mem_usage_avg_5m', limit: 0.75 },
  ],
  priorities: [
    { figure: 'cpu_usage_avg_5m', weight: 0.5 },
    { figure: 'mem_usage_avg_5m', weight: 0.5 },
  ],
  // crane-scheduler's default hot-value rule.
  hotValue: [
    { timeRangeMs: 5 * MIN, count: 5 },
    { timeRangeMs: 1 * MIN, count: 2 },
  ],
  validityMs: { cpu_usage_avg_5m: 8 * MIN, mem_usage_avg_5m: 8 * MIN },
  hotValueValidityMs: 8 * MIN,
  staleness: 'allow',
  estimate: DEFAULT_ESTIMATE,
  hotValuePenalty: DEFAULT_HOT_VALUE_PENALTY,
};

function rng(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x / 2 ** 32;
  };
}

/** Places `pods` one after another 100 ms apart; returns pods per node. Memory is at `mem` on every node. */
function burst(
  cpuByNode: number[],
  pods: number,
  demand: PodDemand,
  herdProtection: boolean,
  seed = 1,
  memByNode: number[] = cpuByNode.map(() => 0.2),
  rulesUsed: LoadRules = rules,
): number[] {
  const recent = new RecentBindings(10 * MIN);
  const random = rng(seed);
  const figures = cpuByNode.map((cpu, n) =>
    decodeNodeFigures(
      {
        'loadwise.io/cpu_usage_avg_5m': encodeFraction(cpu, NOW - MIN),
        'loadwise.io/mem_usage_avg_5m': encodeFraction(memByNode[n]!, NOW - MIN),
      },
      { craneKeys: false },
    ),
  );
  const placed = cpuByNode.map(() => 0);
  for (let p = 0; p < pods; p++) {
    const now = NOW + p * 100;
    let best = -1;
    let ties: number[] = [];
    for (let n = 0; n < cpuByNode.length; n++) {
      const load: NodeLoad = {
        figures: figures[n]!,
        allocatable: { cpuCores: 16, memoryBytes: 64 * GiB },
        bindings: herdProtection ? recent.forNode(`n${n}`, now) : [],
      };
      if (!filterByLoad(load, rulesUsed, now).ok) continue;
      const { score } = scoreByLoad(
        load,
        herdProtection ? demand : { cpuCores: 0, memoryBytes: 0 },
        rulesUsed,
        now,
      );
      if (score > best) {
        best = score;
        ties = [n];
      } else if (score === best) ties.push(n);
    }
    assert.ok(ties.length > 0, `pod ${p} fits nowhere`);
    const chosen = ties[Math.floor(random() * ties.length)]!;
    placed[chosen]!++;
    recent.record(`n${chosen}`, { pod: `default/p${p}`, boundAtMs: now, demand });
  }
  return placed;
}

const pod: PodDemand = { cpuCores: 1, memoryBytes: 2 * GiB };
const BUSY_CPU = [0.55, 0.55, 0.55, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1];
const BUSY_MEM = [0.6, 0.6, 0.6, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2, 0.2];
const burstWith = (r: LoadRules) => burst(BUSY_CPU, 50, pod, true, 1, BUSY_MEM, r);

describe('a burst of 50 identical pods', () => {
  it('spreads over 10 equal idle nodes (no node above twice the mean)', () => {
    for (const seed of [1, 2, 3]) {
      const placed = burst([0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 50, pod, true, seed);
      assert.equal(
        placed.reduce((a, b) => a + b),
        50,
      );
      assert.ok(Math.max(...placed) <= 10, `placed ${placed}`);
    }
  });

  it('piles onto the least-loaded node without herd protection (why it exists)', () => {
    const placed = burst([0.12, 0.1, 0.12, 0.12, 0.12, 0.12, 0.12, 0.12, 0.12, 0.12], 50, pod, false);
    assert.equal(placed[1], 50, `placed ${placed}`);
  });

  it('avoids 3 really loaded nodes, whether over the threshold or just busy', () => {
    // With crane's full point per hot unit, the busy nodes would take pods once the idle ones are "hot".
    const cranePenalty = burstWith({ ...rules, hotValuePenalty: 1 });
    assert.ok(
      cranePenalty.slice(0, 3).some((n) => n > 0),
      `placed ${cranePenalty}`,
    );
    const over = burst([0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], 50, pod, true);
    assert.deepEqual(over.slice(0, 3), [0, 0, 0]);
    // Busy in CPU and memory, under both thresholds: scored low, never filtered.
    const busy = burstWith(rules);
    assert.deepEqual(busy.slice(0, 3), [0, 0, 0], `placed ${busy}`);
    assert.ok(Math.max(...busy.slice(3)) <= (2 * 50) / 7, `placed ${busy}`);
  });

  it('stops placing on a node once pending pods would push it over the threshold', () => {
    // 2 nodes at 0.5; each 4-core pod adds 0.2125: one pod each fits, a second would exceed 0.65.
    const big: PodDemand = { cpuCores: 4, memoryBytes: GiB };
    const recent = new RecentBindings(10 * MIN);
    recent.record('n0', { pod: 'default/a', boundAtMs: NOW, demand: big });
    const load: NodeLoad = {
      figures: decodeNodeFigures(
        { 'loadwise.io/cpu_usage_avg_5m': encodeFraction(0.5, NOW - MIN) },
        { craneKeys: false },
      ),
      allocatable: { cpuCores: 16, memoryBytes: 64 * GiB },
      bindings: recent.forNode('n0', NOW + 1000),
    };
    const verdict = filterByLoad(load, rules, NOW + 1000);
    assert.equal(verdict.ok, false);
  });
});
