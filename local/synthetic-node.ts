// A simulated node's /proc: CPU use follows a slow wave plus what the demo pods placed on it keep
// busy, and memory follows the pods' requests. The agent reads it through --proc-path exactly as it
// reads a host's /proc, so every figure downstream is computed by the real sampler.
import { FakeProc } from '../doubles/fake-proc.ts';
import type { SimNodeSpec } from './cluster-config.ts';

/** USER_HZ: the kernel counts /proc/stat in hundredths of a second per CPU. */
const TICKS_PER_CPU_SECOND = 100;
/** Memory a simulated node uses with no pods (system daemons, page cache it cannot drop). */
const BASE_MEMORY_SHARE = 0.15;

/** The wave alone: the share of the node's CPU busy at `tMs`, 0..1. */
export function waveBusy(load: SimNodeSpec['load'], tMs: number): number {
  const angle = (2 * Math.PI * (tMs + load.phaseMs)) / load.periodMs;
  return Math.min(1, Math.max(0, load.base + load.swing * Math.sin(angle)));
}

export interface PodUse {
  /** CPU milli the pod keeps busy. */
  cpuBusyMilli: number;
  memoryBytes: number;
}

export class SyntheticNode {
  private readonly proc = new FakeProc();
  private lastMs: number;
  private carry = { total: 0, busy: 0 };
  private readonly pods = new Map<string, PodUse>();

  constructor(
    readonly spec: SimNodeSpec,
    nowMs: number,
  ) {
    this.lastMs = nowMs;
    this.writeMemory();
  }

  get procPath(): string {
    return this.proc.dir;
  }

  /** CPU share busy at `tMs`: the wave plus the pods, capped at the whole node. */
  busyAt(tMs: number): number {
    let podMilli = 0;
    for (const p of this.pods.values()) podMilli += p.cpuBusyMilli;
    return Math.min(1, waveBusy(this.spec.load, tMs) + podMilli / (this.spec.cpuCores * 1000));
  }

  addPod(key: string, use: PodUse): void {
    this.pods.set(key, use);
    this.writeMemory();
  }

  removePod(key: string): void {
    if (this.pods.delete(key)) this.writeMemory();
  }

  /** Advances the CPU counters to `nowMs` at the current busy share. */
  advance(nowMs: number): void {
    const seconds = Math.max(0, nowMs - this.lastMs) / 1000;
    this.lastMs = nowMs;
    // Whole ticks only, as the kernel counts; the remainder carries to the next step.
    const total = seconds * this.spec.cpuCores * TICKS_PER_CPU_SECOND + this.carry.total;
    const busy = total * this.busyAt(nowMs) + this.carry.busy;
    const wholeTotal = Math.floor(total);
    const wholeBusy = Math.min(wholeTotal, Math.floor(busy));
    this.carry = { total: total - wholeTotal, busy: busy - wholeBusy };
    if (wholeTotal > 0) this.proc.runFor(wholeTotal, wholeBusy);
  }

  close(): void {
    this.proc.cleanup();
  }

  private writeMemory(): void {
    const totalKiB = Math.floor(this.spec.memoryBytes / 1024);
    let used = BASE_MEMORY_SHARE * this.spec.memoryBytes;
    for (const p of this.pods.values()) used += p.memoryBytes;
    const availableKiB = Math.max(0, Math.floor((this.spec.memoryBytes - used) / 1024));
    this.proc.setMemory(totalKiB, availableKiB);
  }
}
