// Child process of the extender benchmark: the extender's HTTP server over a node index holding
// `--nodes` nodes with realistic annotations (as the watch would have filled it). Prints its
// address as one JSON line; the parent drives requests from its own process. A second server over
// the same nodes and GPU ledger runs `--gpu-policy fgd` (the first runs binpack).
import { encodeVgpuAssignment, VGPU_ASSIGNMENT_ANNOTATION } from '../../contracts/index.ts';
import { benchNodeAnnotations } from './nodes.ts';
import { GpuLedger } from '../../scheduler/gpu-ledger.ts';
import { ManualClock } from '../../common/clock.ts';
import { createLogger } from '../../common/log.ts';
import { parsePolicy } from '../../common/policy.ts';
import { RecentBindings } from '../../scheduler/core/load/recent-bindings.ts';
import { Extender } from '../../scheduler/extender.ts';
import { ExtenderMetrics } from '../../scheduler/metrics.ts';
import { NodeIndex } from '../../scheduler/node-index.ts';
import { rulesFromPolicy } from '../../scheduler/policy-rules.ts';
import { createExtenderServer } from '../../scheduler/server.ts';
import { readFileSync } from 'node:fs';
import { BENCH_POD, BENCH_VGPU_POD } from './pods.ts';
import type { GpuPolicy } from '../../scheduler/core/vgpu-fit/fit.ts';

const count = Number(process.argv[2] ?? 5000);
const now = Date.UTC(2026, 10, 22, 12);
const clock = new ManualClock(now);
const parsed = parsePolicy(readFileSync(process.argv[3] ?? 'configs/policy.yaml', 'utf8'));
if (!parsed.ok) throw new Error(parsed.error);
const rules = rulesFromPolicy(parsed.policy);
const nodes = new NodeIndex();
for (let i = 0; i < count; i++) {
  const annotations = benchNodeAnnotations(i, now - 60_000, 8);
  nodes.upsert({
    metadata: {
      name: `node-${i}`,
      resourceVersion: String(i + 1),
      annotations,
      labels: { 'kubernetes.io/hostname': `node-${i}` },
    },
    status: { allocatable: { cpu: '64', memory: '256Gi', pods: '110' } },
  });
}
// Half the GPUs of every node carry a share already, as bound pods would record them.
const ledger = new GpuLedger();
for (let i = 0; i < count; i++) {
  ledger.onPod('ADDED', {
    metadata: {
      name: `gpu-pod-${i}`,
      namespace: 'default',
      annotations: {
        [VGPU_ASSIGNMENT_ANNOTATION]: encodeVgpuAssignment({
          containers: { main: [0, 2, 4, 6].map((g) => ({ index: g, core: 30 + (i % 50), memoryMiB: 8192 })) },
        }),
      },
    },
    spec: { nodeName: `node-${i}`, containers: [] },
    status: { phase: 'Running' },
  });
}
const recent = new RecentBindings(10 * 60_000);
const metrics = new ExtenderMetrics();
const logger = createLogger({ level: 'silent', name: 'bench' });
const extenderWith = (policy: GpuPolicy) =>
  new Extender({
    nodes,
    recent,
    clock,
    rules: () => rules,
    bindPod: async () => {},
    readPod: async () => undefined,
    schedulerNames: new Set(),
    events: metrics,
    logger,
    gpu: { ledger, policy },
  });
const extender = extenderWith('binpack');
// fgd measures against the requests seen lately: a full ring of a plausible mix (shares of a
// quarter, 40 %, half and three quarters of a GPU; one and two whole GPUs).
const fgdExtender = extenderWith('fgd');
const mixCores = [25, 25, 25, 25, 40, 40, 50, 50, 75, 100, 200];
for (let i = 0; i < fgdExtender.mix.capacity; i++) {
  const core = mixCores[i % mixCores.length]!;
  fgdExtender.mix.recordPod({
    containers: [{ container: 'c', gpus: Math.max(1, core / 100), core: Math.min(core, 100), memoryMiB: 0 }],
    models: [],
  });
}
// The verbs alone, in this process: what a call costs before HTTP and JSON.
const pod = BENCH_POD;
const names = Array.from({ length: 500 }, (_, i) => `node-${(i * 7) % count}`);
const inProcess = (fn: () => unknown): number => {
  for (let i = 0; i < 200; i++) fn();
  const start = performance.now();
  for (let i = 0; i < 2000; i++) fn();
  return (performance.now() - start) / 2000;
};
const filterMs = inProcess(() => extender.filter({ Pod: pod, NodeNames: names }));
const prioritizeMs = inProcess(() => extender.prioritize({ Pod: pod, NodeNames: names }));
const vgpuPod = BENCH_VGPU_POD;
const gpuPrioritizeMs = inProcess(() => extender.prioritize({ Pod: vgpuPod, NodeNames: names }));
const fgdPrioritizeMs = inProcess(() => fgdExtender.prioritize({ Pod: vgpuPod, NodeNames: names }));

const server = createExtenderServer({ extender, metrics, logger, ready: () => true });
const address = await server.listen({ host: '127.0.0.1', port: 0 });
const fgdServer = createExtenderServer({ extender: fgdExtender, metrics, logger, ready: () => true });
const fgdAddress = await fgdServer.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(
  `${JSON.stringify({
    address,
    fgdAddress,
    rss: process.memoryUsage().rss,
    filterMs,
    prioritizeMs,
    gpuPrioritizeMs,
    fgdPrioritizeMs,
  })}\n`,
);
process.on('message', async (m) => {
  if (m === 'stop') {
    await Promise.all([server.close(), fgdServer.close()]);
    process.exit(0);
  }
});
