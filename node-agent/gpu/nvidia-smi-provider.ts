// GPUs through nvidia-smi: one CSV query per sample, the topology matrix once per GPU set.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { GpuDevice } from '../../contracts/index.ts';
import { type GpuRow, parseQueryGpu, parseTopology, QUERY_FIELDS } from './nvidia-smi.ts';
import type { GpuProvider, GpuSnapshot, GpuUsage } from './provider.ts';

const run = promisify(execFile);
const TIMEOUT_MS = 5_000;

export type Runner = (args: string[]) => Promise<string>;

export const defaultRunner =
  (binary = 'nvidia-smi'): Runner =>
  async (args) =>
    (await run(binary, args, { timeout: TIMEOUT_MS, maxBuffer: 1 << 20 })).stdout;

export class NvidiaSmiProvider implements GpuProvider {
  readonly name = 'nvidia-smi';
  /** Every GPU seen since start, by UUID: a GPU that falls off the bus is reported unhealthy, not forgotten. */
  private readonly known = new Map<string, GpuDevice>();
  private topologyFor = '';
  private links = new Map<number, string[]>();

  constructor(private readonly exec: Runner = defaultRunner()) {}

  async read(): Promise<GpuSnapshot> {
    const output = await this.exec([
      `--query-gpu=${QUERY_FIELDS.join(',')}`,
      '--format=csv,noheader,nounits',
    ]);
    const { rows, problems } = parseQueryGpu(output);
    await this.refreshTopology(rows, problems);
    const present = new Set(rows.map((r) => r.uuid));
    const usage = new Map<number, GpuUsage>();
    for (const row of rows) {
      this.known.set(row.uuid, {
        index: row.index,
        uuid: row.uuid,
        model: row.model,
        memoryMiB: row.memoryMiB,
        mig: row.mig,
        healthy: true,
        links: this.links.get(row.index) ?? [],
      });
      usage.set(row.index, { utilization: row.utilization, memoryUsedMiB: row.memoryUsedMiB });
    }
    for (const [uuid, device] of this.known) {
      if (!present.has(uuid)) this.known.set(uuid, { ...device, healthy: false });
    }
    const devices = [...this.known.values()].sort((a, b) => a.index - b.index);
    return { devices, usage, problems };
  }

  /** The matrix only changes with the set of GPUs; re-read it then, not every sample. */
  private async refreshTopology(rows: GpuRow[], problems: string[]): Promise<void> {
    const key = rows.map((r) => `${r.index}:${r.uuid}`).join(',');
    if (key === this.topologyFor) return;
    this.topologyFor = key;
    try {
      this.links = parseTopology(await this.exec(['topo', '-m']));
    } catch (err) {
      this.links = new Map();
      problems.push(`nvidia-smi topo -m: ${(err as Error).message.split('\n')[0]}`);
    }
  }
}
