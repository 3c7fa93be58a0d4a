// The allocation ledger: which container holds which GPU shares on this node, kept in memory and
// made durable through the checkpoint. One place owns the Map so that every reader (Allocate, the
// sweep, marking, metrics) sees the same entries and every change reaches the checkpoint the same
// way: an Allocate appends one journal record, the sweep and recovery write a whole snapshot.
import { status } from '@grpc/grpc-js';
import { VGPU_CORE_PER_GPU } from '../../contracts/resources.ts';
import type { Checkpoint } from './checkpoint.ts';
import type { GpuSource } from './devices.ts';
import type { ContainerAllocation, LedgerEntry } from './matcher.ts';
import { GrpcError } from './resource-server.ts';

export interface AllocationLedgerOptions {
  checkpoint: Checkpoint;
  /** The node the checkpoint is written for. */
  nodeName: string;
  /** The GPUs read, for the capacity check. */
  gpus: Pick<GpuSource, 'gpus'>;
}

/** The ledger's key of one container: `<pod uid>/<container>`. */
export function containerKey(podUID: string, container: string): string {
  return `${podUID}/${container}`;
}

export function keyOf(a: ContainerAllocation): string {
  return containerKey(a.podUID, a.container);
}

export class AllocationLedger {
  private readonly entries = new Map<string, LedgerEntry>();

  constructor(private readonly opts: AllocationLedgerOptions) {}

  get(key: string): LedgerEntry | undefined {
    return this.entries.get(key);
  }

  has(key: string): boolean {
    return this.entries.has(key);
  }

  set(key: string, entry: LedgerEntry): void {
    this.entries.set(key, entry);
  }

  delete(key: string): void {
    this.entries.delete(key);
  }

  /** The live entries (the Map's own iterator: callers copy where they await in between). */
  values(): IterableIterator<LedgerEntry> {
    return this.entries.values();
  }

  /** The live `[key, entry]` pairs (the Map's own iterator). */
  pairs(): IterableIterator<[string, LedgerEntry]> {
    return this.entries.entries();
  }

  /** Takes in what the checkpoint held at start: never answered by this process. */
  restore(allocations: readonly ContainerAllocation[]): void {
    for (const allocation of allocations) {
      this.entries.set(keyOf(allocation), { allocation, answered: new Set(), recovered: true });
    }
  }

  holds(uid: string | undefined): boolean {
    if (!uid) return false;
    for (const e of this.entries.values()) if (e.allocation.podUID === uid) return true;
    return false;
  }

  /** Allocations held now (a copy), for tests, metrics and the GPU inventory. */
  allocations(): ContainerAllocation[] {
    return [...this.entries.values()].map((e) => structuredClone(e.allocation));
  }

  /** Never hands out more of a GPU than it has, whatever the assignment says. */
  checkCapacity(
    pod: string,
    shares: ReadonlyArray<{ index: number; core: number; memoryMiB: number }>,
  ): void {
    const gpus = this.opts.gpus.gpus();
    for (const share of shares) {
      let core = share.core;
      let memory = share.memoryMiB;
      for (const e of this.entries.values()) {
        for (const s of e.allocation.shares) {
          if (s.index !== share.index) continue;
          core += s.core;
          memory += s.memoryMiB;
        }
      }
      const gpu = gpus.find((g) => g.index === share.index);
      if (core > VGPU_CORE_PER_GPU || (gpu && memory > gpu.memoryMiB)) {
        throw new GrpcError(
          status.RESOURCE_EXHAUSTED,
          `pod ${pod}: GPU ${share.index} would be over-committed (core ${core}/${VGPU_CORE_PER_GPU}, memory ${memory}/${gpu?.memoryMiB ?? '?'} MiB)`,
        );
      }
    }
  }

  /** One allocation made or changed: a journal append, not a rewrite of the whole ledger. */
  record(allocation: ContainerAllocation): Promise<void> {
    return this.opts.checkpoint.record(this.opts.nodeName, allocation, () =>
      [...this.entries.values()].map((e) => e.allocation),
    );
  }

  /** The whole ledger as a new snapshot (the sweep and recovery). */
  save(): Promise<void> {
    return this.opts.checkpoint.save(
      this.opts.nodeName,
      [...this.entries.values()].map((e) => e.allocation),
    );
  }
}
