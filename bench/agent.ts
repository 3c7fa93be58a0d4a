// Agent benchmark: per-sample update cost, /statistics latency with a full day of history, and
// the agent process's RSS after a simulated day — for the image's build and flags, beside the
// same agent under other runtimes and bare-node baselines, all measured in this run.
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { Agent as HttpAgent, request } from 'node:http';
import { createInterface } from 'node:readline';
import { setTimeout } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
// @ts-expect-error: a plain ESM build script without type declarations.
import { bundle, NODE_FLAGS } from '../hack/build.mjs';
import type { DayReport, GcSpan, MemoryFigures, MemoryReport } from './agent/day.ts';
import { MEMORY_SIGNAL, SAMPLE_SIGNAL } from './agent/signals.ts';
import { bareNodeSplit, type RssSplit, rssSplitOf } from './agent/rss-split.ts';
import { fmt, type LatencySummary, mb, summarise, table } from './stats.ts';

const HTTP_REQUESTS = 5_000;
const WARMUP_REQUESTS = 500;
const HARNESS = fileURLToPath(new URL('agent/day.ts', import.meta.url));
/** Targets of issue #16, printed beside the figures. */
const TARGET_RSS_MB = 48;
const TARGET_STATISTICS_P99_MS = 1;
/** Requests per round: every endpoint timed once (warm-up included). */
const ROUND_REQUESTS = 3 * (HTTP_REQUESTS + WARMUP_REQUESTS);
/** How long after a sampling tick memory is read (of the agent's 10 s between ticks). */
const SETTLE_MS = 1000;

interface Run {
  label: string;
  report: DayReport;
  statistics: LatencySummary;
  healthz: LatencySummary;
  metrics: LatencySummary;
  /** /statistics and /healthz split by whether a collection ran during the request. */
  statisticsByGc: GcSplit;
  healthzByGc: GcSplit;
  afterRequests: MemoryFigures;
  /** After the next sampling tick, where the agent trims its heap. */
  afterSample: MemoryFigures;
  /** Where afterSample's RSS lies (files, V8 heap, the rest). */
  afterSampleSplit: RssSplit;
  /** After three rounds of requests and a tick (only for the image): is it flat or still rising? */
  afterThreeRounds?: MemoryFigures;
}

/** One endpoint's timings: the summary, and each timed request's [start, end] in epoch ms. */
interface Timed {
  summary: LatencySummary;
  spans: [start: number, end: number][];
}

async function timeRequests(base: string, path: string): Promise<Timed> {
  const agent = new HttpAgent({ keepAlive: true, maxSockets: 1 });
  const url = new URL(path, base);
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const req = request(url, { agent }, (res) => {
        res.resume();
        res.on('end', () =>
          res.statusCode === 200 ? resolve() : reject(new Error(`${path}: ${res.statusCode}`)),
        );
      });
      req.on('error', reject);
      req.end();
    });
  for (let i = 0; i < WARMUP_REQUESTS; i++) await one();
  const latencies: number[] = [];
  const spans: [number, number][] = [];
  const start = performance.now();
  for (let i = 0; i < HTTP_REQUESTS; i++) {
    const t = performance.now();
    await one();
    const end = performance.now();
    latencies.push(end - t);
    spans.push([performance.timeOrigin + t, performance.timeOrigin + end]);
  }
  const wall = performance.now() - start;
  agent.destroy();
  return { summary: summarise(latencies, wall), spans };
}

/** Latencies of requests during which the agent collected garbage, apart from the others. */
interface GcSplit {
  withGc: LatencySummary;
  withoutGc: LatencySummary;
}

/**
 * Splits `timed` by whether one of `gcs` overlapped the request. Both clocks are epoch-based
 * (performance.timeOrigin) on one machine; they agree to well under a request's duration.
 */
function splitByGc(timed: Timed, gcs: GcSpan[]): GcSplit {
  const withGc: number[] = [];
  const withoutGc: number[] = [];
  for (const [start, end] of timed.spans) {
    const paused = gcs.some(([gcStart, ms]) => gcStart < end && gcStart + ms > start);
    (paused ? withGc : withoutGc).push(end - start);
  }
  return { withGc: summarise(withGc, 1), withoutGc: summarise(withoutGc, 1) };
}

async function run(label: string, argv: string[], rounds = 1): Promise<Run> {
  // No IPC channel: it would cost the child megabytes the image's agent never has (agent/day.ts).
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const nextLine = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`${label}: the agent exited before answering`);
    return value as string;
  };
  const report = JSON.parse(await nextLine()) as DayReport;
  const ask = async (message: 'memory' | 'sample') => {
    child.kill(message === 'memory' ? MEMORY_SIGNAL : SAMPLE_SIGNAL);
    return JSON.parse(await nextLine()) as MemoryReport;
  };
  const statisticsTimed = await timeRequests(report.address, '/statistics');
  const healthzTimed = await timeRequests(report.address, '/healthz');
  const metrics = (await timeRequests(report.address, '/metrics')).summary;
  // V8 hands emptied pages back from a background task just after a collection; the agent idles
  // for most of its sampling interval, so its memory is read a moment after the tick.
  const afterNextSample = async () => {
    await ask('sample');
    await setTimeout(SETTLE_MS);
    return ask('memory');
  };
  const afterRequests = await ask('memory');
  // Every collection since the agent started listening: the requests above, warm-up included.
  const statisticsByGc = splitByGc(statisticsTimed, afterRequests.gcs);
  const healthzByGc = splitByGc(healthzTimed, afterRequests.gcs);
  const afterSample = await afterNextSample();
  const afterSampleSplit = rssSplitOf(child.pid!, afterSample.heapTotal);
  let afterThreeRounds: MemoryFigures | undefined;
  if (rounds > 1) {
    for (let round = 1; round < rounds; round++) {
      for (const path of ['/statistics', '/healthz', '/metrics']) await timeRequests(report.address, path);
    }
    afterThreeRounds = await afterNextSample();
  }
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  await exited;
  return {
    label,
    report,
    statistics: statisticsTimed.summary,
    healthz: healthzTimed.summary,
    metrics,
    statisticsByGc,
    healthzByGc,
    afterRequests,
    afterSample,
    afterSampleSplit,
    afterThreeRounds,
  };
}

/** `rss (heap used + external)`, the split that tells a V8 heap apart from native memory. */
function memory(m: MemoryFigures): string {
  return `${mb(m.rss)} (${mb(m.heapUsed)} + ${mb(m.external)})`;
}

const growth = (from: number, to: number) => `${to >= from ? '+' : ''}${mb(to - from)}`;

function bareNodeRss(args: string[]): number {
  const r = spawnSync(
    process.execPath,
    [...args, '-e', 'setTimeout(() => console.log(process.memoryUsage().rss), 200)'],
    {
      encoding: 'utf8',
    },
  );
  return Number(r.stdout.trim());
}

export async function runAgentBench(): Promise<void> {
  console.log('## node agent\n');
  const flags: string[] = NODE_FLAGS['node-agent'];
  const built: string = await bundle(HARNESS, 'dist/bench/agent-day.mjs');
  const runs = [
    await run(`image: bundle, node ${flags.join(' ')}`, [...flags, built], 3),
    await run('image, --compat node-metrics', [...flags, built, '--compat=node-metrics']),
    await run('bundle, default node flags', [built]),
    await run('tsx (npm run agent:dev)', ['--import', 'tsx', HARNESS]),
  ];
  const image = runs[0]!;
  console.log(
    table(
      ['per-sample cost (image build)', 'ns/op', 'note'],
      [
        [
          'WindowedSeries.add (update; target <= 2000 ns)',
          fmt(image.report.addNs, 1),
          `${image.report.addGcs} GCs in 1e6 updates`,
        ],
        ['  baseline: 3 typed-array stores', fmt(image.report.floorNs, 1), 'the floor for any ring'],
        [
          'whole sample, fixture /proc',
          fmt(image.report.sampleFixtureNs, 0),
          'open+read+parse 2 files, 2 updates',
        ],
        [
          'whole sample, real /proc',
          fmt(image.report.sampleRealNs, 0),
          'mostly the kernel generating /proc/stat',
        ],
      ],
    ),
  );
  console.log();
  console.log(
    table(
      [
        'runtime',
        'GET /statistics p50/p99 ms',
        'req/s',
        'baseline /healthz p50/p99',
        'GET /metrics p50/p99',
        'update ns',
      ],
      runs.map((r) => [
        r.label,
        `${fmt(r.statistics.p50)} / ${fmt(r.statistics.p99)}`,
        fmt(r.statistics.opsPerSecond, 0),
        `${fmt(r.healthz.p50)} / ${fmt(r.healthz.p99)}`,
        `${fmt(r.metrics.p50)} / ${fmt(r.metrics.p99)}`,
        fmt(r.report.addNs, 1),
      ]),
    ),
  );
  console.log(
    `(${HTTP_REQUESTS} sequential keep-alive requests per endpoint after ${WARMUP_REQUESTS} warm-up; 1 day of history; target /statistics p99 <= 1 ms)\n`,
  );
  console.log(
    table(
      ['runtime', 'endpoint', 'requests a GC paused', 'their p50/p99 ms', 'the others: p50/p99 ms'],
      runs.flatMap((r) =>
        (
          [
            ['/statistics', r.statisticsByGc],
            ['/healthz', r.healthzByGc],
          ] as const
        ).map(([path, split]) => [
          r.label,
          path,
          `${split.withGc.n} of ${split.withGc.n + split.withoutGc.n}`,
          `${fmt(split.withGc.p50)} / ${fmt(split.withGc.p99)}`,
          `${fmt(split.withoutGc.p50)} / ${fmt(split.withoutGc.p99)}`,
        ]),
      ),
    ),
  );
  console.log(
    '(the tail split by whether a collection ran during the request; no sampling tick runs during these requests: the bench takes ticks only between rounds)\n',
  );
  const bare = bareNodeRss([]);
  console.log(
    table(
      [
        'runtime',
        'RSS at start',
        `after a simulated day (target <= ${TARGET_RSS_MB} MB)`,
        `after ${ROUND_REQUESTS.toLocaleString('en')} requests`,
        `${SETTLE_MS / 1000} s after the next sample (target: flat)`,
        'vs the day',
        '1d coverage s',
      ],
      [
        ...runs.map((r) => [
          r.label,
          mb(r.report.rssStart),
          memory(r.report.memoryAfterDay),
          memory(r.afterRequests),
          memory(r.afterSample),
          growth(r.report.rssAfterDay, r.afterSample.rss),
          r.report.coverage1d ?? 'n/a',
        ]),
        ['baseline: bare node', mb(bare), '', '', '', '', ''],
        [`baseline: bare node ${flags.join(' ')}`, mb(bareNodeRss(flags)), '', '', '', '', ''],
        // Not measured here (a Go binary we do not ship): the figure from node-metrics' own write-up.
        ['reference: node-metrics (Go), its write-up, NOT measured here', '', '~7 MB', '', '', '', ''],
      ],
    ),
  );
  console.log(
    '(RSS, in brackets V8 heap used + memory outside the heap; the agent trims its heap at a sampling tick)',
  );
  // Where the image's RSS over bare node lies: the node binary's pages it touches (files), the V8
  // heap, and the rest of its anonymous memory.
  const bareSplit = bareNodeSplit(flags);
  const splitRow = (label: string, m: RssSplit) => [
    label,
    mb(m.rss),
    mb(m.files),
    mb(m.anonymous),
    mb(m.v8Heap),
    mb(m.anonymous - m.v8Heap),
  ];
  const diff = (a: RssSplit, b: RssSplit): RssSplit => ({
    rss: a.rss - b.rss,
    files: a.files - b.files,
    anonymous: a.anonymous - b.anonymous,
    v8Heap: a.v8Heap - b.v8Heap,
  });
  console.log(
    table(
      [
        'RSS split',
        'RSS',
        'files (node binary, libs)',
        'anonymous',
        'of it V8 heap',
        'rest (malloc, stacks)',
      ],
      [
        splitRow(`image, ${SETTLE_MS / 1000} s after the next sample`, image.afterSampleSplit),
        splitRow('baseline: bare node, same flags', bareSplit),
        splitRow('image over bare node', diff(image.afterSampleSplit, bareSplit)),
      ],
    ),
  );
  console.log('(/proc/PID/smaps_rollup; V8 heap = committed heap, process.memoryUsage().heapTotal)');
  const three = image.afterThreeRounds;
  if (three) {
    console.log(
      `leak check, image: after ${(3 * ROUND_REQUESTS).toLocaleString('en')} requests and a sample ${memory(three)}, ` +
        `${growth(image.afterSample.rss, three.rss)} vs after ${ROUND_REQUESTS.toLocaleString('en')} ` +
        `(flat = settles; a leak keeps rising)`,
    );
  }
  const p99 = image.statistics.p99;
  console.log(
    `targets, image: RSS after a day ${mb(image.report.rssAfterDay)} (<= ${TARGET_RSS_MB} MB: ${
      image.report.rssAfterDay <= TARGET_RSS_MB * 1024 * 1024 ? 'met' : 'NOT met'
    }; bare node ${mb(bare)}), /statistics p99 ${fmt(p99)} ms (<= ${TARGET_STATISTICS_P99_MS} ms: ${
      p99 <= TARGET_STATISTICS_P99_MS ? 'met' : 'NOT met'
    })`,
  );
  console.log();
}
