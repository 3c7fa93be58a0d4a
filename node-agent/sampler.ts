// One sample of the node: read /proc/stat and /proc/meminfo, turn them into fractions, and add
// them to the series. Failures are reported, never thrown: a bad read loses one sample, not the agent.
import { join } from 'node:path';
import type { Clock } from '../common/clock.ts';
import type { SampledResource, SampleFailureReason } from '../contracts/index.ts';
import { MemReading, parseMeminfo } from './meminfo.ts';
import { ProcFile } from './proc-file.ts';
import { CPU_FIELDS, CpuUsage, parseCpuLine } from './proc-stat.ts';
import { WindowedSeries } from './windowed-series.ts';

/** Which file a failure came from, for the metrics label. */
export type SampleSource = 'stat' | 'meminfo' | 'gpu';

export interface SampleFailure {
  source: SampleSource;
  reason: SampleFailureReason;
  detail: string;
}

export interface SamplerOptions {
  procPath: string;
  sampleIntervalMs: number;
  clock: Clock;
  onFailure: (failure: SampleFailure) => void;
}

// The aggregate cpu line is first; 4 KiB holds it on any machine, the per-CPU lines need not be read.
const STAT_READ_BYTES = 4096;
// meminfo is ~1.5 KiB today; room for kernels that add fields.
const MEMINFO_READ_BYTES = 16384;

export class NodeSampler {
  readonly series: Readonly<Record<SampledResource, WindowedSeries>>;
  private readonly stat: ProcFile;
  private readonly meminfo: ProcFile;
  private readonly cpuFields = new Float64Array(CPU_FIELDS.length);
  private readonly cpu = new CpuUsage();
  private readonly mem = new MemReading();
  private readonly intervalS: number;
  private lastCpuReadMs = Number.NaN;
  private lastMemMs = Number.NaN;
  /** Time of the newest sample that added anything, epoch ms. */
  lastGoodSampleMs: number | undefined;

  constructor(private readonly opts: SamplerOptions) {
    this.intervalS = opts.sampleIntervalMs / 1000;
    this.series = {
      cpu: new WindowedSeries(this.intervalS),
      mem: new WindowedSeries(this.intervalS),
      gpu: new WindowedSeries(this.intervalS),
    };
    this.stat = new ProcFile(join(opts.procPath, 'stat'), STAT_READ_BYTES);
    this.meminfo = new ProcFile(join(opts.procPath, 'meminfo'), MEMINFO_READ_BYTES);
  }

  /** Takes one sample now. Returns true when at least one figure was added. */
  sampleOnce(): boolean {
    const now = this.opts.clock.now();
    const cpuAdded = this.sampleCpu(now);
    const memAdded = this.sampleMemory(now);
    if (cpuAdded || memAdded) this.lastGoodSampleMs = now;
    return cpuAdded || memAdded;
  }

  private sampleCpu(now: number): boolean {
    const length = this.stat.read();
    if (length < 0) return this.fail('stat', 'unreadable', this.stat.lastError);
    const parsed = parseCpuLine(this.stat.buffer, length, this.cpuFields);
    if (parsed !== 'ok') return this.fail('stat', parsed, `${this.stat.path}: cpu line is ${parsed}`);
    // The counters are cumulative, so after a failed read the next good one still yields an exact
    // busy fraction for the longer interval since the last good read.
    const outcome = this.cpu.update(this.cpuFields);
    const previous = this.lastCpuReadMs;
    this.lastCpuReadMs = now;
    if (outcome === 'first') return false;
    if (outcome !== 'ok')
      return this.fail('stat', outcome, `${this.stat.path}: interval discarded (${outcome})`);
    // The busy fraction is exact for the whole interval since the previous read; a stall longer
    // than one bucket is clipped so it cannot claim more than a bucket's worth of a window.
    const seconds = Math.min((now - previous) / 1000, 300);
    return this.series.cpu.add(now, this.cpu.busy, seconds);
  }

  private sampleMemory(now: number): boolean {
    const length = this.meminfo.read();
    if (length < 0) return this.fail('meminfo', 'unreadable', this.meminfo.lastError);
    const parsed = parseMeminfo(this.meminfo.buffer, length, this.mem);
    if (parsed !== 'ok') return this.fail('meminfo', parsed, `${this.meminfo.path} is ${parsed}`);
    // Memory is a point reading: it stands for at most one interval, so a gap stays a gap.
    const elapsed = Number.isNaN(this.lastMemMs) ? this.intervalS : (now - this.lastMemMs) / 1000;
    this.lastMemMs = now;
    return this.series.mem.add(now, this.mem.usedFraction, Math.min(elapsed, this.intervalS));
  }

  /**
   * Records the node's GPU usage read at `timeMs` (GPU readings arrive asynchronously, from
   * nvidia-smi). It stands for at most one interval, like a memory reading.
   */
  addGpuUsage(timeMs: number, usage: number): boolean {
    const last = this.series.gpu.lastSampleMs;
    const elapsed = last === undefined ? this.intervalS : (timeMs - last) / 1000;
    const added = this.series.gpu.add(timeMs, usage, Math.min(elapsed, this.intervalS));
    if (added && (this.lastGoodSampleMs === undefined || timeMs > this.lastGoodSampleMs))
      this.lastGoodSampleMs = timeMs;
    return added;
  }

  /** True when the last reading fell back to an estimate of MemAvailable. */
  get memoryEstimated(): boolean {
    return this.mem.estimated;
  }

  private fail(source: SampleSource, reason: SampleFailureReason, detail: string): false {
    this.opts.onFailure({ source, reason, detail });
    return false;
  }
}
