// One replay scenario: an API-server double with the nodes, the real extender and the do-nothing
// one started beside it, warm-up pods through both, then rounds of fresh pods through each in
// turn (so noise on the machine falls on both alike), the CPU each server process burned, and a
// check that every pod ended up bound on the host the replay picked.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { processCpuMs } from '../stats.ts';
import { type Bundles, ClusterChild, ServerChild } from './children.ts';
import { ExtenderClient } from './client.ts';
import { replayNodeName } from './protocol.ts';
import { emptyRecord, NodeWindow, type ReplayRecord, replayPods } from './replay.ts';

export interface ScenarioOptions {
  /** Printed in the heading: "CPU pods", "vGPU pods". */
  label: string;
  nodes: number;
  gpusPerNode: number;
  vgpu: boolean;
  /** Measured pods per server. */
  pods: number;
  /** Pods through each server before measuring (JIT, connections, caches). */
  warmup: number;
  /** The measured pods are replayed in this many alternating rounds per server. */
  rounds: number;
  apiLatencyMs: number;
  bindConcurrency: number;
  /** Extra flags of the real extender (e.g. --gpu-policy fgd). */
  extenderFlags: string[];
  /** Write a V8 CPU profile of the real extender (node --cpu-prof) into this folder. */
  profileDir?: string;
  /** The whole scenario gives up after this long. */
  timeLimitMs: number;
}

export interface ServerFigures {
  record: ReplayRecord;
  pods: number;
  /** Wall time of the measured rounds: first /filter to the last /bind answered. */
  wallMs: number;
  /** CPU the server process burned over the measured rounds. */
  cpuMs: number;
  /** CPU the API-server double burned meanwhile. */
  apiCpuMs: number;
}

export interface ScenarioResult {
  options: ScenarioOptions;
  windowSize: number;
  extender: ServerFigures;
  baseline: ServerFigures;
  /** Pods checked bound on the picked host, warm-up included. */
  verified: number;
}

type Target = { server: ServerChild; client: ExtenderClient; window: NodeWindow; figures: ServerFigures };

export async function runScenario(bundles: Bundles, opts: ScenarioOptions): Promise<ScenarioResult> {
  const deadline = performance.now() + opts.timeLimitMs;
  const dir = await mkdtemp(join(tmpdir(), 'loadwise-replay-'));
  const kubeconfig = join(dir, 'kubeconfig');
  const cluster = await ClusterChild.start(bundles.cluster, {
    nodes: opts.nodes,
    gpusPerNode: opts.gpusPerNode,
    writeLatencyMs: opts.apiLatencyMs,
    kubeconfig,
  });
  const servers: ServerChild[] = [];
  const targets: Target[] = [];
  try {
    // The real extender as a user starts it: its flags, a policy file, a kubeconfig; its node
    // cache filled by its own watch.
    const extenderArgs = [
      '--kubeconfig',
      kubeconfig,
      '--policy',
      'configs/policy.yaml',
      '--listen',
      '127.0.0.1:0',
      ...opts.extenderFlags,
    ];
    const started = await Promise.all([
      ServerChild.start(
        [
          ...bundles.schedulerFlags,
          ...(opts.profileDir ? ['--cpu-prof', `--cpu-prof-dir=${opts.profileDir}`] : []),
        ],
        bundles.scheduler,
        extenderArgs,
      ),
      ServerChild.start([], bundles.nullExtender, [kubeconfig]),
    ]);
    servers.push(...started);
    await Promise.all(started.map((s) => s.ready()));
    const names = Array.from({ length: opts.nodes }, (_, i) => replayNodeName(i));
    for (const server of started) {
      targets.push({
        server,
        client: new ExtenderClient(server.address, opts.bindConcurrency + 1),
        window: new NodeWindow(names),
        figures: { record: emptyRecord(), pods: 0, wallMs: 0, cpuMs: 0, apiCpuMs: 0 },
      });
    }
    const [extender, baseline] = targets as [Target, Target];
    const replayOpts = { bindConcurrency: opts.bindConcurrency, deadline };
    const all: string[] = [];
    const warmupRecord = emptyRecord();
    for (const [i, t] of targets.entries()) {
      const pods = await cluster.createPods(`warm${i}`, opts.warmup, opts.vgpu);
      await replayPods(t.client, pods, t.window, replayOpts, warmupRecord);
      all.push(...pods.map((p) => p.metadata?.name ?? ''));
    }
    const perRound = Math.ceil(opts.pods / opts.rounds);
    for (let r = 0; r < opts.rounds; r++) {
      for (const [i, t] of [baseline, extender].entries()) {
        const count = Math.min(perRound, opts.pods - r * perRound);
        const pods = await cluster.createPods(`r${r}s${i}`, count, opts.vgpu);
        const cpu = processCpuMs(t.server.pid);
        const apiCpu = processCpuMs(cluster.pid);
        const start = performance.now();
        await replayPods(t.client, pods, t.window, replayOpts, t.figures.record);
        t.figures.wallMs += performance.now() - start;
        t.figures.cpuMs += processCpuMs(t.server.pid) - cpu;
        t.figures.apiCpuMs += processCpuMs(cluster.pid) - apiCpu;
        t.figures.pods += count;
        all.push(...pods.map((p) => p.metadata?.name ?? ''));
      }
    }
    // A replay that silently failed is worthless: every answer valid, every pod on its host.
    const placed = await cluster.placements(all);
    const picked = new Map([
      ...warmupRecord.picked,
      ...extender.figures.record.picked,
      ...baseline.figures.record.picked,
    ]);
    const problems = [
      ...warmupRecord.errors,
      ...extender.figures.record.errors,
      ...baseline.figures.record.errors,
    ];
    for (const name of all) {
      if (!picked.has(name)) continue; // already reported among the errors
      if (placed[name] !== picked.get(name))
        problems.push(`${name}: picked ${picked.get(name)}, bound to "${placed[name] ?? ''}"`);
    }
    if (picked.size !== all.length) problems.push(`${all.length - picked.size} pod(s) got no host`);
    for (const s of started) problems.push(...s.complaints);
    if (problems.length > 0)
      throw new Error(`scheduler replay (${opts.label}) failed:\n  ${problems.slice(0, 20).join('\n  ')}`);
    return {
      options: opts,
      windowSize: extender.window.size,
      extender: extender.figures,
      baseline: baseline.figures,
      verified: all.length,
    };
  } finally {
    for (const t of targets) t.client.close();
    await Promise.all(servers.map((s) => s.stop()));
    await cluster.stop();
    await rm(dir, { recursive: true, force: true });
  }
}
