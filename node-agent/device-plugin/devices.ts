// What the device plugin advertises: a GPU list (fed by the agent's GPU inventory) turned into the
// unit devices kubelet counts. kubelet only counts IDs; which GPU a container really gets is the
// extender's assignment, so the IDs just have to be stable and one per unit.
import {
  DEVICE_HEALTHY,
  DEVICE_UNHEALTHY,
  type VgpuResourceKind,
  vgpuDeviceId,
} from '../../contracts/device-plugin.ts';
import { VGPU_CORE_PER_GPU } from '../../contracts/resources.ts';
import type { Device } from './proto.ts';

/** One GPU as the device plugin needs it. */
export interface PluginGpu {
  /** nvidia-smi's index: what the extender's assignment names and /dev/nvidia<index>. */
  index: number;
  uuid: string;
  model: string;
  memoryMiB: number;
  healthy: boolean;
}

/** The GPUs of this node, and a way to hear that they changed (health, a GPU gone). */
export interface GpuSource {
  /** A new list after every change, never one changed in place: the plugin caches what it derives from one. */
  gpus(): readonly PluginGpu[];
  /** Whether the GPUs were read at least once: before that, the empty list means "not yet known". */
  known(): boolean;
  /** Calls `listener` after every change; returns the unsubscribe function. */
  subscribe(listener: () => void): () => void;
}

/** A GPU list set from outside: tests, and the agent when it polls an inventory itself. */
export class StaticGpuSource implements GpuSource {
  private list: readonly PluginGpu[];
  private readonly listeners = new Set<() => void>();

  constructor(gpus: readonly PluginGpu[]) {
    this.list = gpus.map((g) => ({ ...g }));
  }

  gpus(): readonly PluginGpu[] {
    return this.list;
  }

  known(): boolean {
    return true;
  }

  set(gpus: readonly PluginGpu[]): void {
    this.list = gpus.map((g) => ({ ...g }));
    for (const listener of [...this.listeners]) listener();
  }

  /** Flips one GPU's health, the change a failing GPU makes. */
  setHealth(index: number, healthy: boolean): void {
    this.set(this.list.map((g) => (g.index === index ? { ...g, healthy } : g)));
  }

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** How many units of `kind` one GPU contributes. */
export function unitsOf(gpu: PluginGpu, kind: VgpuResourceKind, memoryUnitMiB: number): number {
  return kind === 'core' ? VGPU_CORE_PER_GPU : Math.floor(gpu.memoryMiB / memoryUnitMiB);
}

/**
 * The device list for ListAndWatch. Every unit of every GPU is listed; those of an unhealthy GPU as
 * Unhealthy, so kubelet takes them out of allocatable and puts them back when the GPU recovers.
 */
export function deviceList(
  gpus: readonly PluginGpu[],
  kind: VgpuResourceKind,
  memoryUnitMiB: number,
): Device[] {
  const devices: Device[] = [];
  for (const gpu of [...gpus].sort((a, b) => a.index - b.index)) {
    const health = gpu.healthy ? DEVICE_HEALTHY : DEVICE_UNHEALTHY;
    const units = unitsOf(gpu, kind, memoryUnitMiB);
    for (let unit = 0; unit < units; unit++) devices.push({ ID: vgpuDeviceId(kind, gpu.uuid, unit), health });
  }
  return devices;
}

/** A short fingerprint of a device list: a re-send happens only when it changes. */
export function listFingerprint(devices: readonly Device[]): string {
  let unhealthy = 0;
  for (const d of devices) if (d.health !== DEVICE_HEALTHY) unhealthy++;
  return `${devices.length}:${unhealthy}:${devices.map((d) => (d.health === DEVICE_HEALTHY ? d.ID : `!${d.ID}`)).join(',')}`;
}
