// The extender as an integration test runs it: in-process, against the test cluster, its caches
// synced, listening on loopback.
import assert from 'node:assert/strict';
import type { Clock } from '../../common/clock.ts';
import { createLogger } from '../../common/log.ts';
import { parsePolicy } from '../../common/policy.ts';
import { SchedulerApp } from '../../scheduler/app.ts';
import type { TestCluster } from '../apiserver/cluster.ts';

export async function startTestExtender(
  cluster: TestCluster,
  policyText: string,
  clock: Clock,
): Promise<{ app: SchedulerApp; base: string }> {
  const parsed = parsePolicy(policyText);
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.error);
  const app = new SchedulerApp({
    kubeConfig: cluster.kubeConfig('extender'),
    policy: parsed.policy,
    craneKeys: false,
    clock,
    logger: createLogger({ level: 'silent', name: 'test' }),
    apiTimeoutMs: 5000,
  });
  app.start();
  await app.waitForSync(AbortSignal.timeout(10_000));
  return { app, base: await app.listen('127.0.0.1', 0) };
}
