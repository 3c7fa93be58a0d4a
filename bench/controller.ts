// Controller benchmark: 5,000 Nodes in the API-server double, their agents simulated by a few HTTP
// servers on loopback (127.0.0.1-4, one port, routed by node name through the URL template), both
// in a child process so the controller being measured has a core of its own. Prints the time of
// one full sync (p50/p99) and the PATCH rate per node at a steady load.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { ManualClock } from '../common/clock.ts';
import { createLogger } from '../common/log.ts';
import { parsePolicy } from '../common/policy.ts';
import { CONTROLLER_METRICS } from '../contracts/controller.ts';
import { kubeConfigFor } from '../doubles/apiserver/kubeconfig.ts';
import { AGENT_HOSTS } from './controller/cluster.ts';
import { Controller } from '../controller/controller.ts';
import { ControllerMetrics } from '../controller/metrics.ts';

const NODES = 5000;
const STEADY_SYNCS = 20;
const ECONOMY_NODES = 500;
const SYNC_PERIOD_MS = 30_000;
const HOUR_MS = 3_600_000;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

export async function runControllerBench(): Promise<void> {
  const clock = new ManualClock(Math.floor(Date.now() / 1000) * 1000);
  const script = fileURLToPath(new URL('controller/cluster.ts', import.meta.url));
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', script, String(NODES), String(ECONOMY_NODES), String(clock.now())],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const readLine = async (): Promise<string> => {
    const next = await lines.next();
    if (next.done) throw new Error('the benchmark cluster process ended');
    return next.value;
  };
  let tick = 0;
  const advance = async () => {
    tick++;
    clock.advance(SYNC_PERIOD_MS);
    child.stdin!.write(`${JSON.stringify({ now: clock.now(), tick })}\n`);
    await readLine();
  };
  try {
    const { url, port } = JSON.parse(await readLine()) as { url: string; port: number };
    const policyResult = parsePolicy(
      readFileSync(new URL('../configs/policy.yaml', import.meta.url), 'utf8'),
    );
    if (!policyResult.ok) throw new Error(policyResult.error);
    const make = (nodeSelector?: string) => {
      const metrics = new ControllerMetrics();
      const controller = new Controller({
        kubeConfig: kubeConfigFor(url, 'bench'),
        policy: { ...policyResult.policy, hotValue: [] },
        agentPort: port,
        agentUrlTemplate: 'http://{ip}:{port}/nodes/{name}/statistics',
        syncPeriodMs: SYNC_PERIOD_MS,
        concurrency: 32,
        requestTimeoutMs: 2000,
        apiTimeoutMs: 10_000,
        minChange: 0.02,
        craneCompat: false,
        nodeSelector,
        clock,
        logger: createLogger({ level: 'silent', name: 'bench' }),
        metrics,
      });
      return { controller, metrics };
    };

    const { controller } = make();
    await controller.start({ loop: false });
    const first = await controller.syncOnce();
    const steady: number[] = [];
    let steadyPatches = 0;
    for (let i = 0; i < STEADY_SYNCS; i++) {
      await advance();
      const report = await controller.syncOnce();
      steady.push(report.durationMs);
      steadyPatches += report.patched;
    }
    await controller.stop();
    steady.sort((a, b) => a - b);
    console.log(
      `controller: ${NODES} nodes, agents on ${AGENT_HOSTS.length} loopback addresses, concurrency 32`,
    );
    console.log(
      `  first sync (every node patched): ${(first.durationMs / 1000).toFixed(2)} s, ${first.patched} PATCHes`,
    );
    console.log(
      `  full sync at steady load: p50 ${(percentile(steady, 50) / 1000).toFixed(2)} s, ` +
        `p99 ${(percentile(steady, 99) / 1000).toFixed(2)} s over ${STEADY_SYNCS} syncs ` +
        `(${steadyPatches} PATCHes in ${(STEADY_SYNCS * SYNC_PERIOD_MS) / 60_000} simulated min)  [target <= 5 s]`,
    );

    // An hour of 30 s syncs on a subset: the PATCH rate is a per-node property.
    const economy = make('economy=true');
    await economy.controller.start({ loop: false });
    const before = await economy.metrics.value(CONTROLLER_METRICS.nodePatches);
    for (let i = 0; i < HOUR_MS / SYNC_PERIOD_MS; i++) {
      await advance();
      await economy.controller.syncOnce();
    }
    const perNodeHour =
      ((await economy.metrics.value(CONTROLLER_METRICS.nodePatches)) - before) / ECONOMY_NODES;
    await economy.controller.stop();
    console.log(
      `  PATCHes per node per hour at steady load: ${perNodeHour.toFixed(1)} ` +
        `(${ECONOMY_NODES} nodes, ${HOUR_MS / SYNC_PERIOD_MS} syncs of 30 s)  [target <= 12; crane-scheduler ~97]`,
    );
  } finally {
    child.stdin!.end();
    child.kill('SIGTERM');
  }
}

if (import.meta.url === `file://${process.argv[1]}`) await runControllerBench();
