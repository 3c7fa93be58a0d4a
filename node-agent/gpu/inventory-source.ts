// The device plugin's view of this node's GPUs, fed by the agent's GPU readings: it hears of a
// change (a GPU gone, back, or a new one) only when the list really changed, not every sample.
import type { GpuDevice } from '../../contracts/index.ts';
import type { ContainerAllocation } from '../device-plugin/matcher.ts';
import type { GpuSource, PluginGpu } from '../device-plugin/devices.ts';

export class InventorySource implements GpuSource {
  private list: PluginGpu[] = [];
  /** '' until the first reading: even an empty list read differs from it, so that one is told too. */
  private key = '';
  private readonly listeners = new Set<() => void>();

  gpus(): readonly PluginGpu[] {
    return this.list;
  }

  known(): boolean {
    return this.key !== '';
  }

  /** Resolves true once the GPUs were read, false when that takes longer than `timeoutMs`. */
  whenKnown(timeoutMs: number): Promise<boolean> {
    if (this.known()) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.listeners.delete(listener);
        resolve(false);
      }, timeoutMs);
      const listener = () => {
        clearTimeout(timer);
        this.listeners.delete(listener);
        resolve(true);
      };
      this.listeners.add(listener);
    });
  }

  update(devices: readonly GpuDevice[]): void {
    const list = devices.map(({ index, uuid, model, memoryMiB, healthy, mig }) => ({
      index,
      uuid,
      model,
      memoryMiB,
      // A GPU in MIG mode is partitioned by the driver already; loadwise does not share it again.
      healthy: healthy && !mig,
    }));
    const key = JSON.stringify(list);
    if (key === this.key) return;
    this.key = key;
    this.list = list;
    for (const listener of [...this.listeners]) listener();
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** What the device plugin's allocations hold on each GPU, by index: compute hundredths and MiB. */
export function allocatedPerGpu(
  allocations: readonly ContainerAllocation[],
): Map<number, { core: number; memoryMiB: number }> {
  const out = new Map<number, { core: number; memoryMiB: number }>();
  for (const a of allocations) {
    for (const share of a.shares) {
      const sum = out.get(share.index) ?? { core: 0, memoryMiB: 0 };
      sum.core += share.core;
      sum.memoryMiB += share.memoryMiB;
      out.set(share.index, sum);
    }
  }
  return out;
}
