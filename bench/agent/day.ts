// Child process of the agent benchmark: an agent built exactly as node-agent/main.ts builds it,
// fed a simulated day of samples through a fixture /proc on an injected clock, then serving HTTP.
// It runs under the same node flags as the image (or others, for comparison) and reports its own
// figures as one JSON line; the parent drives HTTP from its own process.
import { PerformanceObserver } from 'node:perf_hooks';
import { ManualClock } from '../../common/clock.ts';
import { createLogger } from '../../common/log.ts';
import { NodeAgent } from '../../node-agent/agent.ts';
import { NodeSampler } from '../../node-agent/sampler.ts';
import { readFigures } from '../../node-agent/statistics.ts';
import { WindowedSeries } from '../../node-agent/windowed-series.ts';
import { FakeProc } from '../../doubles/fake-proc.ts';
import { MEMORY_SIGNAL, SAMPLE_SIGNAL } from './signals.ts';

/** process.memoryUsage() in bytes: RSS and the V8 heap apart from memory outside it. */
export interface MemoryFigures {
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
}

/** A collection in the agent: [start, duration], ms since the epoch (performance.timeOrigin based). */
export type GcSpan = [start: number, durationMs: number];

/** What the agent answers a signal with: its memory, and the collections since its last answer. */
export interface MemoryReport extends MemoryFigures {
  gcs: GcSpan[];
}

export interface DayReport {
  address: string;
  rssStart: number;
  rssAfterDay: number;
  memoryAfterDay: MemoryFigures;
  coverage1d: number | undefined;
  addNs: number;
  addGcs: number;
  floorNs: number;
  sampleFixtureNs: number;
  sampleRealNs: number;
}

const DAY_SAMPLES = 8640; // 24 h at the default 10 s
const ADD_OPS = 1_000_000;
const SAMPLE_OPS = 5_000;

/** ns per call of `body(i)`, after a warm-up. */
function timeLoop(ops: number, body: (i: number) => void): number {
  for (let i = 0; i < Math.min(ops / 10, 10_000); i++) body(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < ops; i++) body(i);
  return Number(process.hrtime.bigint() - start) / ops;
}

const rssStart = process.memoryUsage().rss;
// `--compat=node-metrics`: the agent as a node-metrics drop-in (its documents and gauges too).
const compat = process.argv.includes('--compat=node-metrics') ? 'node-metrics' : 'none';
const proc = new FakeProc();
const clock = new ManualClock(Date.UTC(2026, 10, 22));
const agent = new NodeAgent({
  nodeName: 'bench-node',
  procPath: proc.dir,
  sampleIntervalMs: 10_000,
  compat,
  clock,
  logger: createLogger({ level: 'silent', name: 'bench' }),
});
for (let i = 0; i < DAY_SAMPLES; i++) {
  proc.runFor(1000, 200 + ((i * 37) % 700));
  proc.setMemory(16 * 1024 * 1024, 4 * 1024 * 1024 + ((i * 7919) % (8 * 1024 * 1024)));
  agent.sample();
  clock.advance(10_000);
}
const memoryAfterDay = process.memoryUsage();
const rssAfterDay = memoryAfterDay.rss;
const coverage1d = readFigures(agent.sampler.series, agent.sampler.lastGoodSampleMs!).coverageSeconds
  .cpu_usage_max_avg_1d;

// Per-sample update cost, counting collections to show it allocates nothing.
const series = new WindowedSeries(10);
let addGcs = 0;
const gcObserver = new PerformanceObserver((list) => {
  addGcs += list.getEntries().length;
});
gcObserver.observe({ entryTypes: ['gc'] });
const t0 = Date.UTC(2026, 10, 22);
const addNs = timeLoop(ADD_OPS, (i) => series.add(t0 + i * 10_000, (i % 100) / 100, 10));
gcObserver.disconnect();
// Baseline: the least any ring could do per sample (three stores into typed arrays).
const a = new Float64Array(32);
const b = new Float64Array(32);
const c = new Float64Array(32);
const floorNs = timeLoop(ADD_OPS, (i) => {
  const r = i & 31;
  a[r] = i;
  b[r] = i * 0.5;
  c[r] = 10;
});
// A whole sample: open, read and parse both files, two updates.
const fixtureSampler = new NodeSampler({
  procPath: proc.dir,
  sampleIntervalMs: 10_000,
  clock,
  onFailure: () => {},
});
const sampleFixtureNs = timeLoop(SAMPLE_OPS, () => {
  clock.advance(10_000);
  fixtureSampler.sampleOnce();
});
const realSampler = new NodeSampler({
  procPath: '/proc',
  sampleIntervalMs: 10_000,
  clock,
  onFailure: () => {},
});
const sampleRealNs = timeLoop(SAMPLE_OPS, () => {
  clock.advance(10_000);
  realSampler.sampleOnce();
});

const address = await agent.listen('127.0.0.1', 0);
const report: DayReport = {
  address,
  rssStart,
  rssAfterDay,
  memoryAfterDay,
  coverage1d,
  addNs,
  addGcs,
  floorNs,
  sampleFixtureNs,
  sampleRealNs,
};
process.stdout.write(`${JSON.stringify(report)}\n`);
// Driven by signals, each answered with one JSON line of memory figures on stdout, not by an IPC
// channel, which the image's agent never has: it costs a bare node child ~2.5 MB of RSS, and this
// agent ~0.2 MB (most of what it loads, the agent loads anyway), counted as the agent's until now.
// Collections while serving, so the parent can tell requests a collection paused from the rest.
let gcs: GcSpan[] = [];
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcs.push([performance.timeOrigin + e.startTime, e.duration]);
}).observe({ entryTypes: ['gc'] });
const reportMemory = () => {
  const answer: MemoryReport = { ...process.memoryUsage(), gcs };
  gcs = [];
  process.stdout.write(`${JSON.stringify(answer)}\n`);
};
process.on(MEMORY_SIGNAL, reportMemory);
process.on(SAMPLE_SIGNAL, () => {
  // The next sampling tick, as the agent's loop would take it (and trim the heap there).
  proc.runFor(1000, 500);
  clock.advance(10_000);
  agent.sample();
  reportMemory();
});
process.on('SIGTERM', async () => {
  await agent.stop();
  proc.cleanup();
  process.exit(0);
});
