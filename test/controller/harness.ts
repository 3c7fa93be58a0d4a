// Building blocks for controller integration tests: a controller wired to a test cluster (the
// API-server double, or a real cluster via LOADWISE_TEST_KUBECONFIG) and simulated agents.
import { readFileSync } from 'node:fs';
import type { V1Node } from '@kubernetes/client-node';
import type { Clock } from '../../common/clock.ts';
import { createLogger } from '../../common/log.ts';
import { type SchedulerPolicy, parsePolicy } from '../../common/policy.ts';
import { Controller, type ControllerConfig } from '../../controller/controller.ts';
import { ControllerMetrics } from '../../controller/metrics.ts';
import type { FakeAgents } from '../agents/fake-agents.ts';
import type { TestCluster } from '../apiserver/cluster.ts';

/** The shipped configs/policy.yaml, optionally without the hot-value rule (no Pod watch then). */
export function shippedPolicy(opts: { hotValue?: boolean } = {}): SchedulerPolicy {
  const text = readFileSync(new URL('../../configs/policy.yaml', import.meta.url), 'utf8');
  const result = parsePolicy(text);
  if (!result.ok) throw new Error(result.error);
  return opts.hotValue === false ? { ...result.policy, hotValue: [] } : result.policy;
}

export interface Harness {
  controller: Controller;
  metrics: ControllerMetrics;
}

/** A controller for `cluster` that reaches `agents`, managing only nodes with the run's label. */
export function makeController(
  cluster: TestCluster,
  agents: Pick<FakeAgents, 'port' | 'urlTemplate'>,
  clock: Clock,
  overrides: Partial<ControllerConfig> & { user?: string } = {},
): Harness {
  const metrics = new ControllerMetrics();
  const { user, ...rest } = overrides;
  const controller = new Controller({
    kubeConfig: cluster.kubeConfig(user ?? 'controller'),
    policy: shippedPolicy(),
    agentPort: agents.port,
    agentUrlTemplate: agents.urlTemplate,
    syncPeriodMs: 30_000,
    concurrency: 8,
    requestTimeoutMs: 500,
    apiTimeoutMs: 2000,
    minChange: 0.02,
    craneCompat: false,
    nodeSelector: `loadwise.io/test-run=${cluster.namespace}`,
    clock,
    logger: createLogger({ level: process.env.LOADWISE_TEST_LOG ?? 'silent', name: user ?? 'controller' }),
    metrics,
    apiBackoff: { initialMs: 20, maxMs: 200 },
    ...rest,
  });
  return { controller, metrics };
}

/** Creates a node that the test's controllers manage, with its agent at `ip`. */
export function addNode(
  cluster: TestCluster,
  name: string,
  opts: { ip?: string | null; annotations?: Record<string, string> } = {},
): Promise<V1Node> {
  return cluster.createNode({
    metadata: { name, labels: { 'loadwise.io/test-run': cluster.namespace }, annotations: opts.annotations },
    status: { addresses: opts.ip === null ? [] : [{ type: 'InternalIP', address: opts.ip ?? '127.0.0.1' }] },
  });
}

export { waitFor } from '../support/wait.ts';
