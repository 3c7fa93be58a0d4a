import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { parsePolicy } from '../common/policy.ts';
import {
  DEFAULT_ESTIMATE,
  DEFAULT_FUTURE_SKEW_MS,
  DEFAULT_HOT_VALUE_PENALTY,
} from '../common/policy-defaults.ts';
import { bindingHorizonMs, rulesFromPolicy } from './policy-rules.ts';

const MIN = 60_000;

function rules(text: string) {
  const parsed = parsePolicy(text);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  return rulesFromPolicy(parsed.policy);
}

describe('rulesFromPolicy', () => {
  it('reads the example policy, extender settings included', () => {
    const r = rules(readFileSync(new URL('../configs/policy.yaml', import.meta.url), 'utf8'));
    assert.equal(r.staleness, 'allow');
    assert.equal(r.staleScore, 'used');
    assert.equal(r.futureSkewMs, 30_000);
    assert.deepEqual(r.estimate, { cpuFactor: 0.85, memoryFactor: 0.7, settleMs: 30_000 });
    assert.equal(r.hotValuePenalty, 0.2);
    assert.deepEqual(r.predicates[0], { figure: 'cpu_usage_avg_5m', limit: 0.65 });
    // Valid for the sync period plus crane's 5-minute grace.
    assert.equal(r.validityMs.cpu_usage_avg_5m, 10 * MIN);
    assert.equal(bindingHorizonMs(r), 5 * MIN);
  });

  it('gives a crane-scheduler file the defaults for what it cannot say, and drops figures we do not measure', () => {
    const r = rules(`
apiVersion: scheduler.policy.crane.io/v1alpha1
kind: DynamicSchedulerPolicy
spec:
  syncPolicy:
    - {name: cpu_usage_avg_5m, period: 3m}
    - {name: disk_io_avg_5m, period: 3m}
  predicate:
    - {name: cpu_usage_avg_5m, maxLimitPecent: 0.65}
    - {name: disk_io_avg_5m, maxLimitPecent: 0.5}
  priority:
    - {name: cpu_usage_avg_5m, weight: 0.2}
  hotValue:
    - {timeRange: 10m, count: 5}
`);
    assert.equal(r.staleness, 'allow');
    // crane's own rule for a stale priority figure: fully used.
    assert.equal(r.staleScore, 'used');
    assert.equal(r.futureSkewMs, DEFAULT_FUTURE_SKEW_MS);
    assert.deepEqual(r.estimate, DEFAULT_ESTIMATE);
    assert.equal(r.hotValuePenalty, DEFAULT_HOT_VALUE_PENALTY);
    assert.deepEqual(
      r.predicates.map((p) => p.figure),
      ['cpu_usage_avg_5m'],
    );
    assert.equal(bindingHorizonMs(r), 10 * MIN);
  });

  it('rejects extender settings out of range with a clear reason', () => {
    const base = 'apiVersion: loadwise.io/v1alpha1\nkind: SchedulerPolicy\nsyncPolicy: []\n';
    for (const [extra, message] of [
      ['staleness: maybe', /staleness/],
      ['estimate: {cpuFactor: -1}', /cpuFactor/],
      ['estimate: {settle: soon}', /estimate.settle: invalid duration/],
      ['hotValuePenalty: 50', /hotValuePenalty/],
      ['estimate: {cpu: 1}', /unknown field "cpu"/],
      ['staleScore: idle', /staleScore/],
      ['futureSkew: -5s', /futureSkew: duration must not be negative/],
      ['futureSkew: 1d', /futureSkew: invalid duration/],
      ['futureSkew: 1h', /futureSkew: "1h" is longer than 5m/],
    ] as const) {
      const parsed = parsePolicy(base + extra);
      assert.equal(parsed.ok, false, extra);
      if (!parsed.ok) assert.match(parsed.error, message, extra);
    }
    const ok = parsePolicy(
      `${base}staleness: deny\nestimate: {settle: 90s}\nstaleScore: ignore\nfutureSkew: 0s`,
    );
    assert.ok(ok.ok);
    assert.equal(rulesFromPolicy(ok.policy).staleScore, 'ignore');
    assert.equal(rulesFromPolicy(ok.policy).futureSkewMs, 0);
    assert.equal(rulesFromPolicy(ok.policy).staleness, 'deny');
    assert.equal(rulesFromPolicy(ok.policy).estimate.settleMs, 90_000);
    assert.equal(rulesFromPolicy(ok.policy).estimate.cpuFactor, 0.85);
  });
});
