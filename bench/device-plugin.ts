// Device plugin benchmark: Allocate latency as kubelet sees it, through the test kubelet over the
// plugin's real unix socket, beside an empty unary call (GetDevicePluginOptions) on the same
// connection in the same run, so the figure separates the plugin's work (match, config file,
// fsynced checkpoint) from gRPC's own cost and the machine's noise. Between paced Allocates it
// also times the disk's own floor: one small append + fdatasync in the same directory, what any
// durable record costs there. The API-server double runs in a child process, as a real API
// server would be elsewhere. Prints; never fails on a number.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { closeSync, existsSync, fdatasyncSync, openSync, statfsSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import type { ReflectorEvent } from '../common/reflector.ts';
import { type LatencySummary, summarise, table } from './stats.ts';
import { REAL_CLUSTER_ENV } from '../test/apiserver/cluster.ts';
import { waitForEvent } from '../doubles/kubelet/kubelet.ts';
import { CORE, Rig } from '../test/kubelet/rig.ts';
import { writeFileAtomic } from '../node-agent/device-plugin/atomic-file.ts';
import { type FsyncWay, fsyncFloor } from './device-plugin/fsync.ts';
import type { ContainerAllocation } from '../node-agent/device-plugin/matcher.ts';
import { type AllocatePhases, PHASES, phaseSplit } from './device-plugin/phases.ts';
import type { DevicePlugin } from '../node-agent/device-plugin/plugin.ts';

// 200 pods: more than kubelet's default of 110 per node, so the matcher's scan is not flattered.
const PODS = 200;
const CORE_PER_POD = 2;
/** Of the Allocates after the warm-up, this many are paced (the target's figure), the rest back to back. */
const PACED = 140;
/**
 * Allocates before the measured ones, not counted: the first calls compile the path (grpc's
 * message coding, the matcher, the journal) and took 10–15 ms where warm ones take 2–3; with 100
 * samples the first two alone were the p99. Their worst is printed on its own.
 */
const WARMUP = 10;
const BASELINE_CALLS = 2000;
/** Issue #16: Allocate p99 <= 5 ms paced like kubelet, on a disk-backed checkpoint, fsync kept. */
const TARGET_P99_MS = 5;
/** A journal line's size, for the disk-floor samples. */
const FLOOR_RECORD_BYTES = 480;

/** The filesystem under `path`, by statfs magic: whether the figure is a disk's or memory's. */
function filesystemOf(path: string): string {
  const names: Record<number, string> = {
    0xef53: 'ext4',
    0x01021994: 'tmpfs',
    0x58465342: 'xfs',
    0x9123683e: 'btrfs',
    0x794c7630: 'overlayfs',
  };
  const type = statfsSync(path).type;
  return names[type] ?? `fs 0x${type.toString(16)}`;
}

export async function runDevicePluginBench(): Promise<void> {
  console.log('## device plugin (vGPU Allocate through the test kubelet, unix socket)\n');
  // The same run on disk and, where there is one, on tmpfs: the difference is the filesystem's
  // cost (mkdir, rename, fsync), the tmpfs figure the plugin's own.
  const roots = existsSync('/dev/shm') ? ['/tmp', '/dev/shm'] : ['/tmp'];
  const rows: Array<Array<string | number>> = [];
  const notes: string[] = [];
  const splits: string[] = [];
  const fmt = (n: number) => n.toFixed(3);
  for (const root of roots) {
    const fs = filesystemOf(root);
    const r = await benchOn(root);
    const row = (name: string, s: LatencySummary) => [
      `${name} [${root}, ${fs}]`,
      s.n,
      fmt(s.p50),
      fmt(s.p99),
      fmt(s.max),
    ];
    rows.push(row('empty unary (GetDevicePluginOptions)', r.base));
    rows.push(row('disk floor: 480 B append + fdatasync', r.floor));
    rows.push(row('before: whole-ledger rewrite, 2 fsyncs (after)', r.rewrite));
    rows.push(row(`Allocate, first ${WARMUP} after start (cold)`, r.cold));
    rows.push(row('Allocate, paced like kubelet', r.paced));
    rows.push(row('Allocate, back to back', r.burst));
    rows.push(row('process CPU per paced Allocate (both ends)', r.cpu));
    for (const w of r.ways) {
      rows.push(row(`floor, interleaved: ${w.name}`, w.wall));
      rows.push(row(`  its process CPU`, w.cpu));
    }
    splits.push(phaseTable(`${root}, ${fs}`, r.phases));
    const verdict =
      fs === 'tmpfs'
        ? ''
        : ` (target <= ${TARGET_P99_MS} ms: ${r.paced.p99 <= TARGET_P99_MS ? 'met' : 'NOT met'})`;
    notes.push(
      `${root} (${fs}): Allocate p99 ${fmt(r.paced.p99)} ms paced${verdict}, ` +
        `${fmt(r.burst.p99)} ms back to back; the disk's own append + fdatasync p99 ${fmt(r.floor.p99)} ms, ` +
        `the checkpoint write each Allocate did before the journal p99 ${fmt(r.rewrite.p99)} ms; ` +
        `GC inside paced Allocates: ${r.gc.count} collection(s), ${fmt(r.gc.pauseMs)} ms in all, ` +
        `in ${r.gc.tailWithGc} of the ${r.gc.tail} at or above p99`,
    );
  }
  console.log(table(['call', 'n', 'p50 ms', 'p99 ms', 'max ms'], rows));
  console.log(
    `\nWhere a paced Allocate's time goes (ms; "slowest" = mean over the calls at or above its p99):\n`,
  );
  console.log(splits.join('\n\n'));
  console.log(
    `\nAllocate = match + config file + one journal append with fdatasync + answer; target p99 <= ${TARGET_P99_MS} ms ` +
      `paced, on a disk-backed checkpoint (tmpfs rows show the plugin without the disk). ${notes.join('; ')}. ` +
      `${PODS} pods on 4 GPUs, up to ${PODS} allocations held; the first ${WARMUP} Allocates (cold) are not in the paced figure.\n`,
  );
}

/** Each phase's p50 and p99 over the paced Allocates, and its mean over the slowest ones. */
function phaseTable(where: string, phases: AllocatePhases[]): string {
  const total = (p: AllocatePhases) => PHASES.reduce((a, k) => a + p[k], 0);
  const totals = phases.map(total);
  const p99 = summarise(totals, 0).p99;
  const slow = phases.filter((p) => total(p) >= p99);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
  const rows = [...PHASES, 'total'].map((k) => {
    const of = (p: AllocatePhases) => (k === 'total' ? total(p) : p[k as keyof AllocatePhases]);
    const s = summarise(phases.map(of), 0);
    return [`${k} [${where}]`, s.n, s.p50.toFixed(3), s.p99.toFixed(3), mean(slow.map(of)).toFixed(3)];
  });
  return table(['phase', 'n', 'p50 ms', 'p99 ms', 'slowest, mean ms'], rows);
}

/**
 * One sample of what each Allocate wrote before the journal: the whole ledger as one checksummed
 * document, temp file + fsync + rename + directory fsync (the snapshot format, byte for byte).
 */
function fullRewriteSample(dir: string, node: string, allocations: readonly ContainerAllocation[]): number {
  const s = performance.now();
  const body = JSON.stringify({ node, allocations });
  const sum = createHash('sha256').update(body).digest('hex');
  writeFileAtomic(join(dir, 'bench-full-rewrite.json'), JSON.stringify({ version: 1, checksum: sum, body }), {
    mode: 0o600,
    durable: true,
    ensureDir: false,
  });
  return performance.now() - s;
}

/** One sample of the disk's floor: a journal-sized append and fdatasync in `dir`. */
function floorSample(fd: number, record: string): number {
  const s = performance.now();
  writeSync(fd, record);
  fdatasyncSync(fd);
  return performance.now() - s;
}

interface BenchFigures {
  base: LatencySummary;
  floor: LatencySummary;
  rewrite: LatencySummary;
  cold: LatencySummary;
  paced: LatencySummary;
  burst: LatencySummary;
  /** CPU ms of the whole process per paced Allocate. */
  cpu: LatencySummary;
  gc: GcInside;
  /** Per paced Allocate, where its time went. */
  phases: AllocatePhases[];
  ways: FsyncWay[];
}

interface GcInside {
  /** Collections that started inside a paced Allocate, and their summed pause. */
  count: number;
  pauseMs: number;
  /** Of the paced Allocates at or above the p99, how many had a collection inside. */
  tailWithGc: number;
  tail: number;
}

/**
 * Watches V8's collections (perf_hooks 'gc' entries) so the bench can say whether the slow
 * Allocates are the ones a collection landed in.
 */
function gcWatch(): {
  start(): void;
  inside(windows: Array<[number, number]>, p99: number): Promise<GcInside>;
} {
  const entries: Array<{ startTime: number; duration: number }> = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) entries.push({ startTime: e.startTime, duration: e.duration });
  });
  return {
    start: () => observer.observe({ entryTypes: ['gc'] }),
    inside: async (windows, p99) => {
      // Entries are delivered asynchronously: let the last ones arrive.
      await new Promise((resolve) => setTimeout(resolve, 50));
      observer.disconnect();
      const within = ([s, e]: [number, number]) => entries.filter((g) => g.startTime >= s && g.startTime < e);
      let count = 0;
      let pauseMs = 0;
      let tail = 0;
      let tailWithGc = 0;
      for (const w of windows) {
        const hits = within(w);
        count += hits.length;
        for (const g of hits) pauseMs += g.duration;
        if (w[1] - w[0] >= p99) {
          tail++;
          if (hits.length > 0) tailWithGc++;
        }
      }
      return { count, pauseMs, tailWithGc, tail };
    },
  };
}

async function benchOn(tmpRoot: string): Promise<BenchFigures> {
  const api = await startApiServer();
  const previous = process.env[REAL_CLUSTER_ENV];
  process.env[REAL_CLUSTER_ENV] = api.kubeconfig;
  let rig: Rig;
  try {
    rig = await Rig.open(tmpRoot);
  } catch (err) {
    await api.stop();
    throw err;
  } finally {
    if (previous === undefined) delete process.env[REAL_CLUSTER_ENV];
    else process.env[REAL_CLUSTER_ENV] = previous;
  }
  try {
    const plugin = rig.plugin();
    const registered = waitForEvent(rig.kubelet, 'registered', (r) => r === CORE);
    await plugin.start();
    await registered;
    await plugin.whenReady();
    const t = rig.clock.now();
    const cached = waitForCached(plugin, PODS);
    // 50 pods per GPU at 2 % each: a full node, every Allocate a fresh match.
    for (let i = 0; i < PODS; i += 20) {
      await Promise.all(
        Array.from({ length: 20 }, (_, j) =>
          rig.createGpuPod(`bench-${i + j}`, {
            core: CORE_PER_POD,
            memory: 0,
            shares: [{ index: (i + j) % 4, core: CORE_PER_POD, memoryMiB: 64 }],
            assumeMs: t + i + j,
          }),
        ),
      );
    }
    // Let the watch deliver them all, so no Allocate pays for the fallback list.
    await cached;

    for (let i = 0; i < 200; i++) await rig.kubelet.callOptions(CORE);
    const baseline: number[] = [];
    for (let i = 0; i < BASELINE_CALLS; i++) {
      const s = performance.now();
      await rig.kubelet.callOptions(CORE);
      baseline.push(performance.now() - s);
    }
    const base = summarise(
      baseline,
      baseline.reduce((a, b) => a + b, 0),
    );

    // First half paced like kubelet (the previous pod's annotation PATCH done before the next
    // Allocate), second half back to back (PATCHes and their watch events overlapping).
    const units = rig.kubelet.available(CORE);
    const gc = gcWatch();
    const floorFd = openSync(`${rig.checkpointDir}/bench-floor`, 'a', 0o600);
    const floorRecord = `${'x'.repeat(FLOOR_RECORD_BYTES - 1)}\n`;
    const floor: number[] = [];
    const rewrite: number[] = [];
    // Per paced Allocate: the process's CPU (both ends of the call, and whatever else ran in it,
    // such as the watch event of the previous PATCH) and the call's window, to find GC inside it.
    const cpu: number[] = [];
    const split = phaseSplit(plugin);
    const phases: AllocatePhases[] = [];
    const windows: Array<[number, number]> = [];
    const measure = async (from: number, to: number, paced: boolean): Promise<LatencySummary> => {
      const latencies: number[] = [];
      for (let i = from; i < to; i++) {
        // Distinct units per call, as kubelet's accounting would hand them out.
        const ids = units.slice(i * CORE_PER_POD, (i + 1) * CORE_PER_POD);
        const c = process.cpuUsage();
        const s = performance.now();
        await rig.kubelet.callAllocate(CORE, ids);
        const e = performance.now();
        latencies.push(e - s);
        if (!paced) continue;
        const used = process.cpuUsage(c);
        phases.push(split.phases(s, e));
        cpu.push((used.user + used.system) / 1000);
        windows.push([s, e]);
        await plugin.settled();
        // Between Allocates, so the floor sees the disk as the Allocates around it did. Only the
        // floor: the old way's sample (a copy of the ledger, ~50 KB of JSON) left garbage that the
        // next Allocate paid for in scavenges; it is timed after the Allocates instead.
        floor.push(floorSample(floorFd, floorRecord));
      }
      return summarise(
        latencies,
        latencies.reduce((a, b) => a + b, 0),
      );
    };
    let cold: LatencySummary;
    let paced: LatencySummary;
    const half = WARMUP + PACED;
    try {
      cold = await measure(0, WARMUP, true);
      floor.length = 0;
      cpu.length = 0;
      phases.length = 0;
      windows.length = 0;
      gc.start();
      paced = await measure(WARMUP, half, true);
    } finally {
      closeSync(floorFd);
      split.restore();
    }
    const gcInPaced = await gc.inside(windows, paced.p99);
    const burst = await measure(half, PODS, false);
    // The disk's floor by way of writing: the ways interleaved, paced by the same settle.
    const ways = await fsyncFloor(rig.checkpointDir, PACED, () => plugin.settled());
    await plugin.settled();
    // The ledger as it stood mid-run (the paced Allocates' average size), written the old way.
    const ledger = plugin.allocations().slice(0, (WARMUP + half) / 2);
    for (let i = 0; i < PACED; i++) rewrite.push(fullRewriteSample(rig.checkpointDir, 'bench', ledger));
    const all = (xs: number[]) =>
      summarise(
        xs,
        xs.reduce((a, b) => a + b, 0),
      );
    return {
      base,
      floor: all(floor),
      rewrite: all(rewrite),
      cold,
      paced,
      burst,
      cpu: all(cpu),
      gc: gcInPaced,
      phases,
      ways,
    };
  } finally {
    await rig.close();
    await api.stop();
  }
}

/** Resolves once the plugin's pod watch has seen `count` distinct pods; rejects after 30 s. */
function waitForCached(plugin: DevicePlugin, count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const seen = new Set<string>();
    const timer = setTimeout(
      () => reject(new Error(`only ${seen.size} of ${count} pods reached the plugin's watch`)),
      30_000,
    );
    const listener = (_type: ReflectorEvent, pod: V1Pod) => {
      seen.add(pod.metadata?.uid ?? '');
      if (seen.size < count) return;
      clearTimeout(timer);
      plugin.off('pod', listener);
      resolve();
    };
    plugin.on('pod', listener);
  });
}

/** Starts the API-server double in a child process; resolves once its kubeconfig is written. */
async function startApiServer(): Promise<{ kubeconfig: string; stop: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'lw-bench-'));
  const kubeconfig = join(dir, 'kubeconfig');
  const script = fileURLToPath(new URL('device-plugin/apiserver.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, kubeconfig], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const [line] = (await Promise.race([
    once(createInterface({ input: child.stdout }), 'line'),
    exited,
  ])) as unknown[];
  if (line !== 'ready') throw new Error('the benchmark API server did not start');
  return {
    kubeconfig,
    stop: async () => {
      child.stdin.end();
      await exited;
      await rm(dir, { recursive: true, force: true });
    },
  };
}
