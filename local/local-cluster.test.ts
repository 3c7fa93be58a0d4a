// The local mode as a user meets it: the embedded cluster comes up, real load reaches the Nodes,
// demo pods are scheduled through the extender and vGPU pods get their GPUs from the device
// plugin, the status page shows all of it, and stopping leaves nothing behind.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../common/log.ts';
import { parsePolicy } from '../common/policy.ts';
import { figureAnnotationKey } from '../contracts/annotations.ts';
import { VGPU_CORE_LIMIT_ENV } from '../contracts/vgpu-config.ts';
import { parseLocalCluster } from './cluster-config.ts';
import type { LocalCluster } from './local-cluster.ts';
import { createStatusServer } from './status-page.ts';
import { type ClusterStatus, gatherStatus } from './status.ts';
import { startLocalCluster } from '../test/support/local-mode.ts';
import { eventually } from '../test/support/wait.ts';

const SPEC = parseLocalCluster(
  `apiVersion: loadwise.io/v1alpha1
kind: LocalCluster
sampleInterval: 100ms
syncPeriod: 300ms
thisMachine: { include: false }
nodes:
  - name: gpu-quiet
    cpu: 16
    memory: 64Gi
    gpus: [{ model: Tesla T4, memoryMiB: 15360, count: 2 }]
    load: { base: 0.1, swing: 0, period: 1m }
  - name: gpu-hot
    cpu: 16
    memory: 64Gi
    gpus: [{ model: Tesla T4, memoryMiB: 15360, count: 2 }]
    load: { base: 0.95, swing: 0, period: 1m }
workload:
  interval: 150ms
  lifetime: 1m
  maxPods: 6
  pods:
    - { name: infer, weight: 1, cpu: 500m, memory: 1Gi, busy: 0.1, vgpuCore: 30, vgpuMemory: 8 }
`,
  'test',
  '.',
);

// Every threshold on 5-minute averages, so a fresh node's figures count at once.
const POLICY = `apiVersion: loadwise.io/v1alpha1
kind: SchedulerPolicy
syncPolicy:
  - { name: cpu_usage_avg_5m, period: 5m }
  - { name: mem_usage_avg_5m, period: 5m }
predicate:
  - { name: cpu_usage_avg_5m, maxLimitPercent: 0.65 }
priority:
  - { name: cpu_usage_avg_5m, weight: 1 }
`;

describe('local all-in-one mode', () => {
  let cluster: LocalCluster;
  let page: string;
  let closePage: () => Promise<void>;

  before(async () => {
    const policy = parsePolicy(POLICY);
    assert.ok(policy.ok);
    const logger = createLogger({ level: 'silent', name: 'local-test' });
    cluster = await startLocalCluster(SPEC, policy.policy);
    const server = createStatusServer({
      logger,
      status: () => gatherStatus(cluster.statusSource()),
    });
    page = await server.listen({ host: '127.0.0.1', port: 0 });
    closePage = () => server.close();
  });

  after(async () => {
    await closePage?.();
    await cluster?.stop();
  });

  const status = async (): Promise<ClusterStatus> => {
    const res = await fetch(`${page}/api/status`);
    assert.equal(res.status, 200);
    return (await res.json()) as ClusterStatus;
  };

  it("writes each node's real load onto its Node, from the synthetic /proc through agent and controller", async () => {
    const cpu = figureAnnotationKey('cpu_usage_avg_5m').replace('loadwise.io/', '');
    const nodes = await eventually(
      async () => {
        const s = await status();
        return s.nodes.every((n) => n.annotations[cpu] && 'value' in n.annotations[cpu]!)
          ? s.nodes
          : undefined;
      },
      'cpu annotations on both nodes',
      20_000,
    );
    const value = (name: string) => {
      const a = nodes.find((n) => n.name === name)!.annotations[cpu]!;
      assert.ok('value' in a);
      return a.value;
    };
    assert.ok(value('gpu-hot') > 0.85, `gpu-hot ${value('gpu-hot')}`);
    assert.ok(value('gpu-quiet') < 0.4, `gpu-quiet ${value('gpu-quiet')}`);
  });

  it('schedules vGPU pods through the extender away from the hot node, and the device plugin allocates them', async () => {
    const s = await eventually(
      async () => {
        const st = await status();
        return st.decisions.some((d) => d.filtered['gpu-hot'] && d.node && d.started && !d.started.error)
          ? st
          : undefined;
      },
      'a pod placed after the figures arrived, and started',
      20_000,
    );
    const placed = s.decisions.find((d) => d.filtered['gpu-hot'] && d.node && d.started && !d.started.error)!;
    assert.equal(placed.node, 'gpu-quiet');
    assert.match(placed.filtered['gpu-hot']!, /cpu_usage_avg_5m 0\.9\d( \+ [\d.]+ pending)? > 0\.65/);
    assert.ok(placed.scores['gpu-quiet'] !== undefined);
    const env = placed.started!.containers[0]!.env;
    assert.equal(env[VGPU_CORE_LIMIT_ENV], '30');
    const quiet = await eventually(
      async () => {
        const n = (await status()).nodes.find((x) => x.name === 'gpu-quiet')!;
        return n.gpus.some((g) => g.allocated.core > 0) ? n : undefined;
      },
      'the agent to report the allocation',
      20_000,
    );
    const allocated = quiet.gpus.reduce((sum, g) => sum + g.allocated.core, 0);
    assert.equal(allocated % 30, 0);
    assert.ok(
      quiet.gpus.every((g) => g.allocated.core <= 100),
      'no GPU over-committed',
    );
    assert.ok((quiet.pods.infer ?? 0) >= 1);
  });

  it('serves the page itself, and answers unknown paths and methods with JSON errors', async () => {
    const html = await fetch(`${page}/`);
    assert.equal(html.status, 200);
    assert.match(html.headers.get('content-type') ?? '', /text\/html/);
    assert.match(await html.text(), /api\/status/);
    const missing = await fetch(`${page}/nope`);
    assert.equal(missing.status, 404);
    assert.match(((await missing.json()) as { message: string }).message, /no route/);
    assert.equal((await fetch(`${page}/api/status`, { method: 'POST' })).status, 405);
  });

  it('stops every part and removes its temporary files', async () => {
    const dir = cluster.kubeconfigPath.replace(/\/kubeconfig$/, '');
    assert.ok(existsSync(dir));
    const agentUrl = cluster.nodes[0]!.agentUrl;
    await closePage();
    await cluster.stop();
    assert.equal(existsSync(dir), false);
    await assert.rejects(fetch(`${agentUrl}/healthz`));
  });
});
