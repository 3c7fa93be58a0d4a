// Extender benchmark: /filter and /prioritize over a 5,000-node cache, driven from this process
// over loopback against the server in a child process. nodeCacheCapable (names only) is the path
// kube-scheduler uses with our config; the full-Nodes path is measured beside it for comparison.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Agent as HttpAgent, request } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: a plain ESM build script without type declarations.
import { bundle } from '../hack/build.mjs';
import { fmt, type LatencySummary, mb, summarise, table } from './stats.ts';
import { BENCH_POD, BENCH_VGPU_POD } from './scheduler/pods.ts';

const NODES = 5000;
const CALLS = 2000;
const WARMUP = 200;
const CONCURRENCY = 4;

function nodeObject(i: number) {
  const annotations: Record<string, string> = {};
  for (const f of ['cpu_usage_avg_5m', 'cpu_usage_max_avg_1h', 'mem_usage_avg_5m', 'mem_usage_max_avg_1h']) {
    annotations[`loadwise.io/${f}`] = `0.${String(10 + (i % 80))}000,2026-11-22T11:59:00Z`;
  }
  return {
    metadata: {
      name: `node-${i}`,
      resourceVersion: `x${i}`,
      annotations,
      labels: { 'kubernetes.io/hostname': `node-${i}` },
    },
    status: {
      allocatable: { cpu: '64', memory: '256Gi', pods: '110' },
      capacity: { cpu: '64', memory: '256Gi' },
    },
  };
}

const pod = BENCH_POD;
const vgpuPod = BENCH_VGPU_POD;

async function drive(
  base: string,
  path: string,
  body: string,
  calls: number,
  concurrency: number,
): Promise<LatencySummary> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: concurrency });
  const url = new URL(path, base);
  const one = () =>
    new Promise<number>((resolve, reject) => {
      const t = performance.now();
      const req = request(
        url,
        body
          ? { method: 'POST', agent, headers: { 'content-type': 'application/json' } }
          : { method: 'GET', agent },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200
              ? resolve(performance.now() - t)
              : reject(new Error(`${path}: ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(body || undefined);
    });
  for (let i = 0; i < WARMUP; i++) await one();
  const latencies: number[] = [];
  let next = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < calls) latencies.push(await one());
    }),
  );
  const wall = performance.now() - start;
  agent.destroy();
  return summarise(latencies, wall);
}

/**
 * One call of each target in turn, `rounds` times, one client: noise from the rest of the machine
 * then falls on every target alike, which a comparison of rows measured one after another lacks.
 */
async function driveInterleaved(
  targets: { base: string; path: string; body: string }[],
  rounds: number,
): Promise<LatencySummary[]> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const one = (t: { base: string; path: string; body: string }) =>
    new Promise<number>((resolve, reject) => {
      const start = performance.now();
      const req = request(
        new URL(t.path, t.base),
        { method: 'POST', agent, headers: { 'content-type': 'application/json' } },
        (res) => {
          res.resume();
          res.on('end', () =>
            res.statusCode === 200
              ? resolve(performance.now() - start)
              : reject(new Error(`${t.path}: ${res.statusCode}`)),
          );
        },
      );
      req.on('error', reject);
      req.end(t.body);
    });
  const latencies = targets.map(() => [] as number[]);
  const start = performance.now();
  for (let r = 0; r < WARMUP + rounds; r++) {
    for (let i = 0; i < targets.length; i++) {
      const ms = await one(targets[i]!);
      if (r >= WARMUP) latencies[i]!.push(ms);
    }
  }
  const wall = performance.now() - start;
  agent.destroy();
  return latencies.map((l) => summarise(l, wall));
}

export async function runSchedulerBench(): Promise<void> {
  console.log(`## scheduler extender (${NODES} nodes in the cache)\n`);
  const built: string = await bundle(
    fileURLToPath(new URL('scheduler/server.ts', import.meta.url)),
    'dist/bench/extender-server.mjs',
  );
  const policy = fileURLToPath(new URL('../configs/policy.yaml', import.meta.url));
  const child = spawn(process.execPath, [built, String(NODES), policy], {
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const [line] = (await once(createInterface({ input: child.stdout! }), 'line')) as [string];
  const { address, fgdAddress, rss, filterMs, prioritizeMs, gpuPrioritizeMs, fgdPrioritizeMs } = JSON.parse(
    line,
  ) as {
    address: string;
    fgdAddress: string;
    rss: number;
    filterMs: number;
    prioritizeMs: number;
    gpuPrioritizeMs: number;
    fgdPrioritizeMs: number;
  };

  const names = (n: number) => Array.from({ length: n }, (_, i) => `node-${(i * 7) % NODES}`);
  const rows: (string | number)[][] = [];
  // label, path, body, clients, and the server when not the binpack one.
  const cases: [string, string, string, number, string?][] = [
    // kube-scheduler stops looking after percentageOfNodesToScore (10% at 5,000 nodes): ~500 names.
    [
      'filter, 500 names (nodeCacheCapable)',
      '/filter',
      JSON.stringify({ Pod: pod, NodeNames: names(500) }),
      1,
    ],
    [
      'filter, 500 names, 4 clients',
      '/filter',
      JSON.stringify({ Pod: pod, NodeNames: names(500) }),
      CONCURRENCY,
    ],
    ['prioritize, 500 names', '/prioritize', JSON.stringify({ Pod: pod, NodeNames: names(500) }), 1],
    [
      'prioritize, 500 names, 4 clients',
      '/prioritize',
      JSON.stringify({ Pod: pod, NodeNames: names(500) }),
      CONCURRENCY,
    ],
    [
      'vGPU pod: filter, 500 names (8 GPUs a node)',
      '/filter',
      JSON.stringify({ Pod: vgpuPod, NodeNames: names(500) }),
      1,
    ],
    [
      'vGPU pod: prioritize, 500 names',
      '/prioritize',
      JSON.stringify({ Pod: vgpuPod, NodeNames: names(500) }),
      1,
    ],
    [
      'vGPU pod: prioritize, 500 names, --gpu-policy fgd',
      '/prioritize',
      JSON.stringify({ Pod: vgpuPod, NodeNames: names(500) }),
      1,
      fgdAddress,
    ],
    ['filter, all 5,000 names', '/filter', JSON.stringify({ Pod: pod, NodeNames: names(NODES) }), 1],
    ['prioritize, all 5,000 names', '/prioritize', JSON.stringify({ Pod: pod, NodeNames: names(NODES) }), 1],
    ['baseline: GET /healthz (the HTTP floor)', '/healthz', '', 1],
    [
      'baseline: filter, 500 full Nodes',
      '/filter',
      JSON.stringify({ Pod: pod, Nodes: { items: Array.from({ length: 500 }, (_, i) => nodeObject(i)) } }),
      1,
    ],
  ];
  let interleaved: LatencySummary[] = [];
  try {
    for (const [label, path, body, concurrency, server] of cases) {
      const calls = body.length > 1_000_000 ? CALLS / 10 : CALLS;
      const s = await drive(server ?? address, path, body, calls, concurrency);
      rows.push([
        label,
        `${(body.length / 1024).toFixed(0)} KiB`,
        s.n,
        fmt(s.p50),
        fmt(s.p99),
        fmt(s.opsPerSecond, 0),
      ]);
    }
    const body = (p: unknown) => JSON.stringify({ Pod: p, NodeNames: names(500) });
    interleaved = await driveInterleaved(
      [
        { base: address, path: '/prioritize', body: body(pod) },
        { base: address, path: '/prioritize', body: body(vgpuPod) },
        { base: fgdAddress, path: '/prioritize', body: body(vgpuPod) },
      ],
      CALLS,
    );
  } finally {
    child.send('stop');
    await once(child, 'exit');
  }
  console.log(table(['call', 'request', 'n', 'p50 ms', 'p99 ms', 'calls/s'], rows));
  // The vGPU target: prioritize within 2x of the CPU-only path. The rows above are measured one
  // after another; this compares them call for call.
  const [cpu, binpack, fgd] = interleaved as [LatencySummary, LatencySummary, LatencySummary];
  const ratio = (s: LatencySummary) =>
    `p50 ${fmt(s.p50)} ms, p99 ${fmt(s.p99)} ms (${fmt(s.p50 / cpu.p50, 2)}x, ${fmt(s.p99 / cpu.p99, 2)}x)`;
  console.log(
    `vGPU prioritize against the CPU-only path (target within 2x), 500 names, ${CALLS} calls of each in turn:\n` +
      ` CPU pod                        p50 ${fmt(cpu.p50)} ms, p99 ${fmt(cpu.p99)} ms; in-process ${fmt(prioritizeMs)} ms\n` +
      ` vGPU pod, --gpu-policy binpack ${ratio(binpack)}; in-process ${fmt(gpuPrioritizeMs)} ms\n` +
      ` vGPU pod, --gpu-policy fgd     ${ratio(fgd)}; in-process ${fmt(fgdPrioritizeMs)} ms`,
  );
  console.log(
    '(targets: p99 <= 2 ms and >= 2,000 calls/s with node names; the client shares the 2 cores with the server.\n' +
      ` The verbs alone, in-process, 500 names: filter ${fmt(filterMs)} ms, prioritize ${fmt(prioritizeMs)} ms per call;` +
      ` server RSS with the cache: ${mb(rss)})\n`,
  );
}
