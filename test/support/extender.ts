// The extender as an integration test runs it: in-process, against the test cluster, its caches
// synced, listening on loopback.
import assert from 'node:assert/strict';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import type { Clock } from '../../common/clock.ts';
import { createLogger } from '../../common/log.ts';
import { parsePolicy } from '../../common/policy.ts';
import { SchedulerApp, type SchedulerAppOptions } from '../../scheduler/app.ts';
import {
  DEFAULT_SCHEDULER_NAME,
  encodeFraction,
  encodeGpuInventory,
  figureAnnotationKey,
  GPU_INVENTORY_ANNOTATION,
  GPU_MODEL_ANNOTATION,
  VGPU_CORE_RESOURCE,
  VGPU_MEMORY_RESOURCE,
} from '../../contracts/index.ts';
import type { TestCluster } from '../apiserver/cluster.ts';

/** A policy on one figure: CPU above 65 % filters a node out; CPU alone scores. */
export const CPU_POLICY = `
apiVersion: loadwise.io/v1alpha1
kind: SchedulerPolicy
syncPolicy:
  - {name: cpu_usage_avg_5m, period: 3m}
predicate:
  - {name: cpu_usage_avg_5m, maxLimitPercent: 0.65}
priority:
  - {name: cpu_usage_avg_5m, weight: 1}
hotValue: []
`;

/**
 * A policy on the two 5-minute averages only (valid 8 minutes), CPU above 65 % and memory above
 * 75 % refused, both weighted alike, crane's 5-in-5-minutes hot value.
 */
export const TWO_FIGURE_POLICY = `
apiVersion: loadwise.io/v1alpha1
kind: SchedulerPolicy
syncPolicy:
  - {name: cpu_usage_avg_5m, period: 3m}
  - {name: mem_usage_avg_5m, period: 3m}
predicate:
  - {name: cpu_usage_avg_5m, maxLimitPercent: 0.65}
  - {name: mem_usage_avg_5m, maxLimitPercent: 0.75}
priority:
  - {name: cpu_usage_avg_5m, weight: 0.5}
  - {name: mem_usage_avg_5m, weight: 0.5}
hotValue:
  - {timeRange: 5m, count: 5}
`;

/** A policy of one CPU figure: what the vGPU tests of the extender run under. */
export const CPU_ONLY_POLICY = `
apiVersion: loadwise.io/v1alpha1
kind: SchedulerPolicy
syncPolicy: [{name: cpu_usage_avg_5m, period: 3m}]
predicate: [{name: cpu_usage_avg_5m, maxLimitPercent: 0.65}]
priority: [{name: cpu_usage_avg_5m, weight: 1}]
`;

/** POSTs JSON to an extender verb; the answer must be 200. */
export async function postJson<T>(base: string, path: string, body: unknown): Promise<T> {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  assert.equal(res.status, 200);
  return (await res.json()) as T;
}

export async function startTestExtender(
  cluster: TestCluster,
  policyText: string,
  clock: Clock,
  options: Partial<SchedulerAppOptions> = {},
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
    ...options,
  });
  app.start();
  await app.waitForSync(AbortSignal.timeout(10_000));
  return { app, base: await app.listen('127.0.0.1', 0) };
}

/** A GPU node as the controller leaves it: a fresh CPU figure and `gpus` 80 GB A100s in its inventory. */
export function gpuNodeFixture(name: string, gpus: number, nowMs: number, cpu = 0.2): V1Node {
  return {
    metadata: {
      name,
      annotations: {
        [figureAnnotationKey('cpu_usage_avg_5m')]: encodeFraction(cpu, nowMs - 60_000),
        [GPU_INVENTORY_ANNOTATION]: encodeGpuInventory({
          gpus: Array.from({ length: gpus }, (_, i) => ({
            index: i,
            uuid: `GPU-${name}-${i}`,
            model: 'A100',
            memoryMiB: 81920,
            mig: false,
            healthy: true,
            links: [],
          })),
        }),
      },
    },
    status: { allocatable: { cpu: '64', memory: '256Gi' } },
  };
}

/** A pending pod with one container asking `vgpuCore` and 16 vgpu-memory units (4 GiB). */
export function vgpuPodFixture(namespace: string, name: string, vgpuCore: string, model?: string): V1Pod {
  return {
    metadata: {
      name,
      namespace,
      uid: `uid-${name}`,
      annotations: model ? { [GPU_MODEL_ANNOTATION]: model } : {},
    },
    spec: {
      schedulerName: DEFAULT_SCHEDULER_NAME,
      containers: [
        {
          name: 'main',
          image: 'cuda',
          resources: { limits: { [VGPU_CORE_RESOURCE]: vgpuCore, [VGPU_MEMORY_RESOURCE]: '16' } },
        },
      ],
    },
  };
}
