// Where the agent learns about GPUs: nvidia-smi on a GPU node, a file in local mode and tests,
// nothing on a CPU node. Every provider answers the same question the same way.
import type { GpuDevice } from '../../contracts/index.ts';

export interface GpuUsage {
  /** Busy fraction 0..1, when the provider knows (not in MIG mode). */
  utilization: number | undefined;
  memoryUsedMiB: number | undefined;
}

export interface GpuSnapshot {
  /** Every GPU the node has had since start, by index; one that vanished stays, unhealthy. */
  devices: GpuDevice[];
  usage: Map<number, GpuUsage>;
  /** What could not be read this time, for the log and the failure counter. */
  problems: string[];
}

export interface GpuProvider {
  readonly name: 'nvidia-smi' | 'simulated';
  /** One reading; rejects only when nothing at all could be read (the tool is gone, timed out). */
  read(): Promise<GpuSnapshot>;
}

export const GPU_PROVIDERS = ['auto', 'nvidia-smi', 'simulated', 'none'] as const;
export type GpuProviderChoice = (typeof GPU_PROVIDERS)[number];

/** Node-level GPU usage: the mean utilisation of the healthy GPUs that report one. */
export function nodeGpuUsage(snapshot: GpuSnapshot): number | undefined {
  let sum = 0;
  let n = 0;
  for (const d of snapshot.devices) {
    const u = snapshot.usage.get(d.index)?.utilization;
    if (!d.healthy || u === undefined) continue;
    sum += u;
    n++;
  }
  return n > 0 ? sum / n : undefined;
}
