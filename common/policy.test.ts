import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  EXTRA_ACTIVE_PERIOD_MS,
  figureValidityMs,
  hotValueHorizonMs,
  loadPolicyFile,
  parsePolicy,
} from './policy.ts';

const CRANE_DEFAULT = `
apiVersion: scheduler.policy.crane.io/v1alpha1
kind: DynamicSchedulerPolicy
spec:
  syncPolicy:
    ##cpu usage
    - name: cpu_usage_avg_5m
      period: 3m
    - name: cpu_usage_max_avg_1h
      period: 15m
    - name: cpu_usage_max_avg_1d
      period: 3h
    ##memory usage
    - name: mem_usage_avg_5m
      period: 3m
    - name: mem_usage_max_avg_1h
      period: 15m
    - name: mem_usage_max_avg_1d
      period: 3h
    ##load average
    - name: load1_usage_avg_3m
      period: 3m

  predicate:
    ##cpu usage
    - name: cpu_usage_avg_5m
      maxLimitPecent: 0.65
    - name: cpu_usage_max_avg_1h
      maxLimitPecent: 0.75
    ##memory usage
    - name: mem_usage_avg_5m
      maxLimitPecent: 0.65
    - name: mem_usage_max_avg_1h
      maxLimitPecent: 0.75

  priority:
    ##cpu usage
    - name: cpu_usage_avg_5m
      weight: 0.2
    - name: cpu_usage_max_avg_1h
      weight: 0.3
    - name: cpu_usage_max_avg_1d
      weight: 0.5
    ##memory usage
    - name: mem_usage_avg_5m
      weight: 0.2
    - name: mem_usage_max_avg_1h
      weight: 0.3
    - name: mem_usage_max_avg_1d
      weight: 0.5

  hotValue:
    - timeRange: 5m
      count: 5
    - timeRange: 1m
      count: 2
`;

test('the shipped configs/policy.yaml loads without warnings', async () => {
  const result = await loadPolicyFile(new URL('../configs/policy.yaml', import.meta.url).pathname);
  assert.ok(result.ok, result.ok ? '' : result.error);
  assert.deepEqual(result.warnings, []);
  assert.equal(result.policy.format, 'loadwise');
  assert.equal(figureValidityMs(result.policy, 'cpu_usage_avg_5m'), 5 * 60_000 + EXTRA_ACTIVE_PERIOD_MS);
  assert.equal(hotValueHorizonMs(result.policy), 5 * 60_000);
});

test("crane-scheduler's DynamicSchedulerPolicy loads unchanged; figures loadwise lacks are warnings", () => {
  const result = parsePolicy(CRANE_DEFAULT, 'crane.yaml');
  assert.ok(result.ok, result.ok ? '' : result.error);
  assert.equal(result.policy.format, 'crane');
  assert.deepEqual(result.policy.predicate[0], { name: 'cpu_usage_avg_5m', maxLimitPercent: 0.65 });
  assert.deepEqual(result.policy.hotValue, [
    { timeRangeMs: 300_000, count: 5 },
    { timeRangeMs: 60_000, count: 2 },
  ]);
  assert.equal(
    result.policy.syncPolicy.find((s) => s.name === 'cpu_usage_max_avg_1d')?.periodMs,
    3 * 3_600_000,
  );
  assert.deepEqual(result.warnings, [
    'syncPolicy: loadwise does not measure "load1_usage_avg_3m"; it is ignored',
  ]);
});

test("crane-scheduler-plus's metrics: sync file (configs/crane-plus-metrics.yaml) loads as the controller's sync policy", async () => {
  // The example is crane-scheduler-plus's file as its controller reads it: no apiVersion, no kind.
  const result = await loadPolicyFile(
    new URL('../configs/crane-plus-metrics.yaml', import.meta.url).pathname,
  );
  assert.ok(result.ok, result.ok ? '' : result.error);
  assert.equal(result.policy.format, 'crane-metrics');
  assert.deepEqual(result.policy.syncPolicy.slice(0, 2), [
    { name: 'cpu_usage_avg_5m', periodMs: 3 * 60_000 },
    { name: 'cpu_usage_max_avg_1h', periodMs: 15 * 60_000 },
  ]);
  assert.equal(result.policy.syncPolicy.length, 6);
  // Valid as crane-scheduler-plus holds it: period plus five minutes.
  assert.equal(figureValidityMs(result.policy, 'mem_usage_avg_5m'), 8 * 60_000);
  assert.deepEqual([result.policy.predicate, result.policy.priority, result.policy.hotValue], [[], [], []]);
  assert.match(result.warnings.join('\n'), /sets no thresholds, weights or hot value/);
});

test('a metrics: sync file is checked like the others', () => {
  const cases: Array<[string, RegExp]> = [
    ['metrics:\n  - {name: cpu_usage_avg_5m}', /metrics\/0 must have required property 'period'/],
    [
      'metrics:\n  - {name: cpu_usage_avg_5m, period: soon}',
      /metrics\[0\] \(cpu_usage_avg_5m\) period: invalid duration/,
    ],
    ['metrics: {name: cpu_usage_avg_5m}', /\/metrics must be array/],
    [
      'metrics:\n  - {name: cpu_usage_avg_5m, period: 3m}\n  - {name: cpu_usage_avg_5m, period: 1m}',
      /metrics: "cpu_usage_avg_5m" is listed twice/,
    ],
  ];
  for (const [text, expected] of cases) {
    const result = parsePolicy(text, 'm.yaml');
    assert.ok(!result.ok, text);
    assert.match(result.error, expected, text);
  }
  // Without `metrics:` and without apiVersion, the file is still judged as loadwise's own.
  const neither = parsePolicy('syncPolicy: []', 'm.yaml');
  assert.ok(!neither.ok && /must have required property 'apiVersion'/.test(neither.error));
});

test('invalid policies are rejected with a message that says what and where', () => {
  const cases: Array<[string, RegExp]> = [
    ['a: [', /not valid YAML/],
    ['- just a list', /expected a mapping/],
    [
      'apiVersion: loadwise.io/v1alpha1\nkind: SchedulerPolicy\nsyncPolicy: []\nextra: 1',
      /unknown field "extra"/,
    ],
    [
      'apiVersion: loadwise.io/v2\nkind: SchedulerPolicy\nsyncPolicy: []',
      /apiVersion must be "loadwise.io\/v1alpha1"/,
    ],
    [
      'apiVersion: loadwise.io/v1alpha1\nkind: SchedulerPolicy\nsyncPolicy:\n  - {name: cpu_usage_avg_5m, period: 3 minutes}',
      /syncPolicy\[0\] \(cpu_usage_avg_5m\) period: invalid duration/,
    ],
    [
      'apiVersion: loadwise.io/v1alpha1\nkind: SchedulerPolicy\nsyncPolicy:\n  - {name: cpu_usage_avg_5m, period: 0s}',
      /must be longer than zero/,
    ],
    [
      'apiVersion: loadwise.io/v1alpha1\nkind: SchedulerPolicy\nsyncPolicy:\n  - {name: cpu_usage_avg_5m, period: 1m}\n  - {name: cpu_usage_avg_5m, period: 2m}',
      /listed twice/,
    ],
    [
      'apiVersion: scheduler.policy.crane.io/v1alpha1\nkind: DynamicSchedulerPolicy\nspec:\n  syncPolicy: []\n  predicate:\n    - {name: cpu_usage_avg_5m, maxLimitPecent: 65}',
      /maxLimitPecent 65 is above 1; thresholds are fractions/,
    ],
    [
      'apiVersion: loadwise.io/v1alpha1\nkind: SchedulerPolicy\nsyncPolicy: []\nhotValue:\n  - {timeRange: 5m, count: 0}',
      /hotValue\/0\/count must be >= 1/,
    ],
  ];
  for (const [text, expected] of cases) {
    const result = parsePolicy(text, 'p.yaml');
    assert.equal(result.ok, false, text);
    if (!result.ok) {
      assert.match(result.error, expected, text);
      assert.ok(result.error.startsWith('p.yaml: '), result.error);
    }
  }
});

test('an unreadable policy file is an error result, not an exception', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'policy-'));
  try {
    const missing = await loadPolicyFile(join(dir, 'none.yaml'));
    assert.equal(missing.ok, false);
    await writeFile(join(dir, 'p.yaml'), CRANE_DEFAULT);
    assert.equal((await loadPolicyFile(join(dir, 'p.yaml'))).ok, true);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
