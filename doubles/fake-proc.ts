// A /proc tree in a temporary directory whose counters a test moves by hand: the agent reads it
// through --proc-path exactly as it reads the host's /proc.
import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CPU_FIELDS } from '../node-agent/proc-stat.ts';

/** Columns of the aggregate cpu line (USER_HZ ticks), named as the kernel orders them. */
export type CpuTicks = Record<(typeof CPU_FIELDS)[number], number>;

export class FakeProc {
  readonly dir = mkdtempSync(join(tmpdir(), 'loadwise-proc-'));
  ticks: CpuTicks = {
    user: 1000,
    nice: 0,
    system: 500,
    idle: 10000,
    iowait: 100,
    irq: 0,
    softirq: 10,
    steal: 0,
    guest: 0,
    guest_nice: 0,
  };

  constructor() {
    this.writeStat();
    this.setMemory(16 * 1024 * 1024, 12 * 1024 * 1024);
  }

  /** Advances the counters by `total` ticks of which `busy` are busy (user+system). */
  runFor(total: number, busy: number): void {
    const user = Math.round(busy * 0.7);
    this.ticks.user += user;
    this.ticks.system += busy - user;
    this.ticks.idle += total - busy;
    this.writeStat();
  }

  setTicks(ticks: Partial<CpuTicks>): void {
    this.ticks = { ...this.ticks, ...ticks };
    this.writeStat();
  }

  setMemory(totalKiB: number, availableKiB: number): void {
    const free = Math.floor(availableKiB / 2);
    this.write(
      'meminfo',
      `MemTotal:       ${totalKiB} kB\nMemFree:        ${free} kB\nMemAvailable:   ${availableKiB} kB\n` +
        `Buffers:          12345 kB\nCached:         ${availableKiB - free} kB\nSwapCached:            0 kB\n`,
    );
  }

  /** Replaces a file with arbitrary content (garbage, truncation). */
  write(name: 'stat' | 'meminfo', content: string): void {
    // Rename over the old file so the agent never reads a half-written one by accident.
    const tmp = join(this.dir, `.${name}.tmp`);
    writeFileSync(tmp, content);
    renameSync(tmp, join(this.dir, name));
  }

  remove(name: 'stat' | 'meminfo'): void {
    rmSync(join(this.dir, name), { force: true });
  }

  writeStat(): void {
    const line = CPU_FIELDS.map((k) => this.ticks[k]).join(' ');
    this.write('stat', `cpu  ${line}\ncpu0 ${line}\nintr 1 2 3\nctxt 100\nbtime 1700000000\n`);
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
