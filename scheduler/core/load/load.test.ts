import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeCount, encodeFraction, type FigureName } from '../../../contracts/index.ts';
import { decodeNodeFigures } from './node-figures.ts';
import {
  filterByLoad,
  hotValue,
  type NodeLoad,
  NEUTRAL_SCORE,
  OVER_TEXT_CACHE_SIZE,
  pendingFraction,
  scoreByLoad,
} from './index.ts';
import { RecentBindings, type RecordedBinding } from './recent-bindings.ts';
import { DEFAULT_ESTIMATE } from '../../../common/policy-defaults.ts';
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
    { figure: 'cpu_usage_avg_5m', weight: 0.2 },
    { figure: 'cpu_usage_max_avg_1h', weight: 0.3 },
    { figure: 'mem_usage_avg_5m', weight: 0.2 },
    { figure: 'mem_usage_max_avg_1h', weight: 0.3 },
  ],
  hotValue: [
    { timeRangeMs: 5 * MIN, count: 5 },
    { timeRangeMs: 1 * MIN, count: 2 },
  ],
  validityMs: {
    cpu_usage_avg_5m: 8 * MIN,
    mem_usage_avg_5m: 8 * MIN,
    cpu_usage_max_avg_1h: 8 * MIN,
    mem_usage_max_avg_1h: 8 * MIN,
  },
  hotValueValidityMs: 8 * MIN,
  staleness: 'allow',
  estimate: DEFAULT_ESTIMATE,
  hotValuePenalty: 0.5, // larger than the default, to make the arithmetic visible
};

function node(
  figures: Partial<Record<FigureName, [number, number]>>,
  extra: { hot?: [number, number]; bindings?: RecordedBinding[]; raw?: Record<string, string> } = {},
): NodeLoad {
  const annotations: Record<string, string> = { ...extra.raw };
  for (const [name, [value, ageMs]] of Object.entries(figures)) {
    annotations[`loadwise.io/${name}`] = encodeFraction(value, NOW - ageMs);
  }
  if (extra.hot) annotations['loadwise.io/node_hot_value'] = encodeCount(extra.hot[0], NOW - extra.hot[1]);
  return {
    figures: decodeNodeFigures(annotations, { craneKeys: false }),
    allocatable: { cpuCores: 16, memoryBytes: 64 * GiB },
    bindings: extra.bindings ?? [],
  };
}

const binding = (agoMs: number, cpuCores = 2, memoryBytes = 4 * GiB): RecordedBinding => ({
  pod: `default/p-${agoMs}`,
  boundAtMs: NOW - agoMs,
  demand: { cpuCores, memoryBytes },
});

describe('filterByLoad', () => {
  const cases: { name: string; load: NodeLoad; rules?: Partial<LoadRules>; want: true | RegExp }[] = [
    {
      name: 'passes a node under every threshold',
      load: node({ cpu_usage_avg_5m: [0.3, MIN], mem_usage_avg_5m: [0.5, MIN] }),
      want: true,
    },
    {
      name: 'says which figure is over and by how much',
      load: node({ cpu_usage_avg_5m: [0.91, MIN] }),
      want: /^cpu_usage_avg_5m 0\.91 > 0\.65$/,
    },
    { name: 'a value at the threshold passes', load: node({ cpu_usage_avg_5m: [0.65, MIN] }), want: true },
    {
      name: 'ignores an expired figure under staleness allow',
      load: node({ cpu_usage_avg_5m: [0.99, 9 * MIN] }),
      want: true,
    },
    {
      name: 'rejects an expired figure under staleness deny',
      load: node({ cpu_usage_avg_5m: [0.1, 9 * MIN], mem_usage_avg_5m: [0.1, MIN] }),
      rules: { staleness: 'deny' },
      want: /^cpu_usage_avg_5m expired 540s after measurement \(staleness: deny\)$/,
    },
    {
      name: 'ignores a future-dated figure under staleness allow, however low it claims to be',
      load: node({ cpu_usage_avg_5m: [0.99, -31_000] }),
      want: true,
    },
    {
      name: 'rejects a future-dated figure under staleness deny, saying so',
      load: node({ cpu_usage_avg_5m: [0.1, -3_600_000], mem_usage_avg_5m: [0.1, MIN] }),
      rules: { staleness: 'deny' },
      want: /^cpu_usage_avg_5m dated 3600s in the future \(more than the 30s futureSkew\) \(staleness: deny\)$/,
    },
    {
      name: 'believes a figure dated within the future skew',
      load: node({ cpu_usage_avg_5m: [0.91, -29_000] }),
      want: /^cpu_usage_avg_5m 0\.91 > 0\.65$/,
    },
    {
      name: 'rejects a missing figure under staleness deny',
      load: node({ cpu_usage_avg_5m: [0.1, MIN] }),
      rules: { staleness: 'deny' },
      want: /^mem_usage_avg_5m missing/,
    },
    { name: 'passes a node with no annotations under allow', load: node({}), want: true },
    {
      name: 'never fails on garbage annotations',
      load: node(
        {},
        { raw: { 'loadwise.io/cpu_usage_avg_5m': 'NaN,yesterday', 'loadwise.io/node_hot_value': '-1' } },
      ),
      want: true,
    },
    {
      name: 'adds the extender’s own bindings not yet in the figure',
      // 0.50 measured 1 minute ago; 2 pods bound 30 s ago, 2 cores × 0.85 each on 16 cores = 0.2125.
      load: node({ cpu_usage_avg_5m: [0.5, MIN] }, { bindings: [binding(30_000), binding(20_000)] }),
      want: /^cpu_usage_avg_5m 0\.50 \+ 0\.21 pending > 0\.65$/,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const verdict = filterByLoad(c.load, { ...rules, ...c.rules }, NOW);
      if (c.want === true) assert.deepEqual(verdict, { ok: true });
      else {
        assert.equal(verdict.ok, false);
        if (!verdict.ok) assert.match(verdict.reason, c.want);
      }
    });
  }

  it('names the figure and its value in every rejection, the same text for every node and call', () => {
    // The text is kept per value; it must be the value's own, past the cache bound too, and a
    // kept text must never make an expired figure reject.
    for (let i = 0; i < OVER_TEXT_CACHE_SIZE + 50; i++) {
      const value = 0.66 + (i % (OVER_TEXT_CACHE_SIZE + 10)) / 1e6;
      const verdict = filterByLoad(node({ cpu_usage_avg_5m: [value, MIN] }), rules, NOW);
      assert.deepEqual(verdict, {
        ok: false,
        figure: 'cpu_usage_avg_5m',
        reason: `cpu_usage_avg_5m ${value.toFixed(2)} > 0.65`,
      });
    }
    const hot = node({ cpu_usage_avg_5m: [0.9, MIN] });
    assert.equal(filterByLoad(hot, rules, NOW).ok, false);
    assert.deepEqual(filterByLoad(hot, rules, NOW + 8 * MIN), { ok: true });
    const pending = node({ cpu_usage_avg_5m: [0.9, MIN] }, { bindings: [binding(0)] });
    const verdict = filterByLoad(pending, rules, NOW);
    assert.match(verdict.ok ? '' : verdict.reason, /^cpu_usage_avg_5m 0\.90 \+ 0\.\d\d pending > 0\.65$/);
  });
});

describe('pendingFraction', () => {
  // A settle as long as the 5-minute window, so the ramp follows what the window takes in.
  const windowRamp: LoadRules = { ...rules, estimate: { ...DEFAULT_ESTIMATE, settleMs: 5 * MIN } };
  it('releases a binding as the figure’s window takes the pod in', () => {
    const load = node({ cpu_usage_avg_5m: [0.5, MIN] }, { bindings: [binding(7 * MIN), binding(5 * MIN)] });
    // Measured 1 min ago: the 5-minute window has taken in all of the pod bound 7 min ago and four
    // fifths of the one bound 5 min ago; a fifth of its estimate is still to come.
    assert.ok(
      Math.abs(pendingFraction(load, 'cpu_usage_avg_5m', windowRamp) - (0.2 * 2 * 0.85) / 16) < 1e-12,
    );
    // Memory is not annotated here: nothing has caught up, both count in full.
    assert.equal(pendingFraction(load, 'mem_usage_avg_5m', windowRamp), (2 * 4 * 0.7) / 64);
  });
  it('counts a figure as measured when the controller last found it unmoved (synced up to)', () => {
    // Written 9 minutes ago and unmoved since: by its own timestamp the binding 4 min ago is all
    // pending; the controller's record of 10 s ago says the window has taken in 3m50s of it.
    const bound = binding(4 * MIN);
    const stale = node({ cpu_usage_avg_5m: [0.3, 9 * MIN] }, { bindings: [bound] });
    assert.equal(pendingFraction(stale, 'cpu_usage_avg_5m', windowRamp), (2 * 0.85) / 16);
    const confirmed = { ...stale, confirmedMs: NOW - 10_000 };
    const left = (5 * MIN - (4 * MIN - 10_000)) / (5 * MIN);
    assert.ok(
      Math.abs(pendingFraction(confirmed, 'cpu_usage_avg_5m', windowRamp) - (left * 2 * 0.85) / 16) < 1e-12,
    );
    // A record older than the figure's own timestamp changes nothing.
    const older = node({ cpu_usage_avg_5m: [0.3, MIN] }, { bindings: [bound] });
    assert.equal(
      pendingFraction({ ...older, confirmedMs: NOW - 3 * MIN }, 'cpu_usage_avg_5m', windowRamp),
      pendingFraction(older, 'cpu_usage_avg_5m', windowRamp),
    );
  });
  it('releases over settle: half of it after half of settle', () => {
    const load = node({ cpu_usage_avg_5m: [0.5, 0] }, { bindings: [binding(MIN)] });
    const short = { ...rules, estimate: { ...DEFAULT_ESTIMATE, settleMs: 2 * MIN } };
    assert.equal(pendingFraction(load, 'cpu_usage_avg_5m', short), (0.5 * 2 * 0.85) / 16);
  });
  it('drops the demand of a pod that left the node, which still counts as a binding for the hot value', () => {
    const recent = new RecentBindings(10 * MIN);
    recent.record('n', { ...binding(30_000), pod: 'demo/a' });
    recent.record('n', { ...binding(20_000), pod: 'demo/b' });
    recent.departed('n', 'demo/a');
    const load = node({ cpu_usage_avg_5m: [0.5, MIN] }, { bindings: [...recent.forNode('n', NOW)] });
    assert.equal(pendingFraction(load, 'cpu_usage_avg_5m', rules), (2 * 0.85) / 16, 'only b is still coming');
    assert.equal(hotValue(load, { ...rules, hotValue: [{ timeRangeMs: MIN, count: 2 }] }, NOW), 1);
  });
  it('is 0 without allocatable to divide by', () => {
    const load = { ...node({}, { bindings: [binding(1000)] }), allocatable: undefined };
    assert.equal(pendingFraction(load, 'cpu_usage_avg_5m', rules), 0);
  });
});

describe('hotValue', () => {
  it('applies crane’s rule to the extender’s bindings at once', () => {
    const bindings = [binding(10_000), binding(20_000), binding(30_000), binding(2 * MIN), binding(3 * MIN)];
    // 5 in 5 min → 1; 3 in 1 min → 1.
    assert.equal(hotValue(node({}, { bindings }), rules, NOW), 2);
  });
  it('adds only bindings newer than a fresh annotated value', () => {
    const bindings = [binding(4 * MIN), binding(3 * MIN), binding(10_000), binding(5_000)];
    // Annotated 3 as of 2 min ago; since then 2 bindings, both within the last minute → +1.
    assert.equal(hotValue(node({}, { hot: [3, 2 * MIN], bindings }), rules, NOW), 4);
    // An expired annotation is ignored; all 4 own bindings count: 0 + floor(2/2).
    assert.equal(hotValue(node({}, { hot: [3, 20 * MIN], bindings }), rules, NOW), 1);
  });
  it('ignores a future-dated annotated value, which would otherwise hide every own binding', () => {
    const bindings = [binding(10_000), binding(5_000)];
    assert.equal(hotValue(node({}, { hot: [0, -365 * 24 * 60 * MIN], bindings }), rules, NOW), 1);
  });
});

describe('scoreByLoad', () => {
  const idle = { cpuCores: 0, memoryBytes: 0 };
  it('is the weighted mean of 1 − usage, scaled to 10', () => {
    const load = node({
      cpu_usage_avg_5m: [0.2, MIN],
      cpu_usage_max_avg_1h: [0.4, MIN],
      mem_usage_avg_5m: [0.5, MIN],
      mem_usage_max_avg_1h: [0.5, MIN],
    });
    const s = scoreByLoad(load, idle, rules, NOW);
    const want = ((0.8 * 0.2 + 0.6 * 0.3 + 0.5 * 0.2 + 0.5 * 0.3) / 1.0) * 10;
    assert.ok(Math.abs(s.exact - want) < 1e-9);
    assert.equal(s.score, 6);
  });

  it("counts a stale figure as fully used by default (crane's rule: its term scores 0, its weight stays)", () => {
    const load = node({ cpu_usage_avg_5m: [0.8, MIN], cpu_usage_max_avg_1h: [0.0, 30 * MIN] });
    const s = scoreByLoad(load, idle, rules, NOW);
    assert.deepEqual(s.used, ['cpu_usage_avg_5m']);
    // (0.2 × 0.2 + 0 × (0.3 + 0.2 + 0.3)) / 1.0 × 10: the idle-looking expired figure earns nothing.
    assert.ok(Math.abs(s.exact - 0.4) < 1e-9, String(s.exact));
  });

  it('gives a node whose agent died (nothing fresh) the lowest score, below any honest node', () => {
    const dead = scoreByLoad(node({ cpu_usage_avg_5m: [0.0, 30 * MIN] }), idle, rules, NOW);
    const busy = scoreByLoad(
      node({ cpu_usage_avg_5m: [0.6, MIN], mem_usage_avg_5m: [0.6, MIN] }),
      idle,
      rules,
      NOW,
    );
    assert.equal(dead.exact, 0);
    assert.ok(busy.exact > dead.exact);
  });

  it('under staleScore ignore, drops stale figures from numerator and denominator', () => {
    const ignore: LoadRules = { ...rules, staleScore: 'ignore' };
    const load = node({ cpu_usage_avg_5m: [0.8, MIN], cpu_usage_max_avg_1h: [0.0, 30 * MIN] });
    const s = scoreByLoad(load, idle, ignore, NOW);
    assert.deepEqual(s.used, ['cpu_usage_avg_5m']);
    assert.ok(Math.abs(s.exact - 2) < 1e-9);
    assert.equal(scoreByLoad(node({}), idle, ignore, NOW).exact, NEUTRAL_SCORE, 'nothing fresh: neutral');
  });

  it('does not believe a figure dated beyond the future skew, and says why', () => {
    // The attack: 0.00 dated 2099 must score below an honest node at 0.30.
    const forged = node({}, { raw: { 'loadwise.io/cpu_usage_avg_5m': '0.00000,2099-01-01T00:00:00Z' } });
    const honest = node({ cpu_usage_avg_5m: [0.3, MIN] });
    const seen: string[] = [];
    const s = scoreByLoad(forged, idle, rules, NOW, (figure, reason) => seen.push(`${figure}:${reason}`));
    assert.equal(s.exact, 0);
    assert.deepEqual(s.used, []);
    assert.ok(scoreByLoad(honest, idle, rules, NOW).exact > 1);
    assert.deepEqual(seen, [
      'cpu_usage_avg_5m:future',
      'cpu_usage_max_avg_1h:missing',
      'mem_usage_avg_5m:missing',
      'mem_usage_max_avg_1h:missing',
    ]);
    // Within the skew (a controller clock 20 s ahead of ours) it is believed.
    const ahead = node({ cpu_usage_avg_5m: [0.3, -20_000] });
    assert.deepEqual(scoreByLoad(ahead, idle, rules, NOW).used, ['cpu_usage_avg_5m']);
    const strict: LoadRules = { ...rules, futureSkewMs: 10_000 };
    assert.deepEqual(scoreByLoad(ahead, idle, strict, NOW).used, []);
  });

  it('counts the incoming pod and pending bindings, and takes off the hot value', () => {
    const figures = { cpu_usage_avg_5m: [0.2, MIN] as [number, number] };
    const cpuOnly: LoadRules = { ...rules, priorities: [{ figure: 'cpu_usage_avg_5m', weight: 1 }] };
    const alone = scoreByLoad(node(figures), { cpuCores: 4, memoryBytes: 0 }, cpuOnly, NOW);
    assert.ok(Math.abs(alone.exact - (1 - 0.2 - (4 * 0.85) / 16) * 10) < 1e-9);
    const busy = scoreByLoad(node(figures, { bindings: [binding(1000), binding(2000)] }), idle, cpuOnly, NOW);
    const pending = (2 * 2 * 0.85) / 16;
    assert.equal(busy.hotValue, 1);
    assert.ok(Math.abs(busy.exact - ((1 - 0.2 - pending) * 10 - 0.5)) < 1e-9);
  });

  it('stays within 0..10', () => {
    const hot = node({ cpu_usage_avg_5m: [0.99, MIN] }, { hot: [100, MIN] });
    assert.equal(scoreByLoad(hot, { cpuCores: 64, memoryBytes: 0 }, rules, NOW).score, 0);
  });
});

describe("--crane-keys: crane-scheduler's own annotations", () => {
  // A node annotated by crane-scheduler's annotator (TZ unset: Asia/Shanghai wall time, literal Z),
  // written one minute ago: NOW is 12:00 UTC, so 19:59 in Shanghai.
  const craneNode = {
    cpu_usage_avg_5m: '0.70000,2026-11-22T19:59:00Z',
    mem_usage_avg_5m: '0.30000,2026-11-22T19:59:00Z',
    node_hot_value: '2,2026-11-22T19:59:00Z',
  };
  const load = (annotations: Record<string, string>, craneTimeZone?: string): NodeLoad => ({
    figures: decodeNodeFigures(annotations, { craneKeys: true, craneTimeZone }),
    allocatable: { cpuCores: 16, memoryBytes: 64 * GiB },
    bindings: [],
  });

  it("reads them in crane's zone, so a fresh crane figure filters like crane does", () => {
    const l = load(craneNode);
    assert.deepEqual(l.figures.figures.cpu_usage_avg_5m, { value: 0.7, timestampMs: NOW - MIN });
    assert.deepEqual(filterByLoad(l, rules, NOW), {
      ok: false,
      figure: 'cpu_usage_avg_5m',
      reason: 'cpu_usage_avg_5m 0.70 > 0.65',
    });
    // Still fresh at crane's limit (sync period 3 min + 5 min), gone after it.
    assert.equal(filterByLoad(l, rules, NOW + 7 * MIN).ok, false);
    assert.equal(filterByLoad(l, rules, NOW + 7 * MIN + 1000).ok, true);
  });

  it('reads the zone it is told, and ignores the bare keys without --crane-keys', () => {
    const berlin = load({ cpu_usage_avg_5m: '0.70000,2026-11-22T12:59:00Z' }, 'Europe/Berlin');
    assert.equal(berlin.figures.figures.cpu_usage_avg_5m?.timestampMs, NOW - MIN);
    assert.deepEqual(decodeNodeFigures(craneNode, { craneKeys: false }).figures, {});
  });

  it("prefers loadwise's key, and reports a bare key in loadwise's UTC form as unreadable for crane", () => {
    const both = load({ ...craneNode, 'loadwise.io/cpu_usage_avg_5m': encodeFraction(0.1, NOW) });
    assert.equal(both.figures.figures.cpu_usage_avg_5m?.value, 0.1);
    const utc = load({ cpu_usage_avg_5m: '0.70000,2026-11-22T12:00:00+00:00' });
    assert.equal(utc.figures.figures.cpu_usage_avg_5m, undefined);
    assert.match(utc.figures.invalid[0]?.error ?? '', /not a crane time/);
  });

  it("holds crane's hot value valid for five minutes, as crane does", () => {
    const l = load(craneNode);
    assert.equal(hotValue(l, rules, NOW), 2);
    assert.equal(hotValue(l, rules, NOW + 4 * MIN), 2);
    // loadwise's own hot value would last 8 minutes under these rules; crane's lasts 5.
    assert.equal(hotValue(l, rules, NOW + 4 * MIN + 1000), 0);
  });
});
