// Which GPUs of one node a pod's containers get: whole requests take free GPUs (the best-linked
// set), shares take the GPU they fit best (binpack, least compute left) or worst (spread). Pure:
// the caller passes what is free; nothing is changed. `fgd` places with the fragmentation rule
// (fgd.ts); here, where only the fit matters, it places as binpack does.
import type { GpuDevice, GpuShare } from '../../../contracts/index.ts';
import type { ContainerGpuRequest, PodGpuRequest } from './request.ts';
import { acceptsGpuModel } from '../../../contracts/vgpu-pod.ts';
import { gpuMemoryTaken, gpuTakes } from '../placement/gpu-fit.ts';
import { milliFromVgpuCore } from '../placement/units.ts';

/** How vGPU pods are scored and their shares placed: see README (scheduler) and fgd.ts. */
export type GpuPolicy = 'fgd' | 'binpack' | 'spread';

export const GPU_POLICIES: readonly GpuPolicy[] = ['fgd', 'binpack', 'spread'];

export interface GpuFree {
  device: GpuDevice;
  /** Hundredths of compute not yet assigned. */
  core: number;
  /** MiB not yet assigned. */
  memoryMiB: number;
}

/** What is assigned on one GPU: compute in hundredths, memory in MiB. */
export interface GpuUse {
  core: number;
  memoryMiB: number;
}

export type GpuFit =
  | {
      ok: true;
      containers: Record<string, GpuShare[]>;
      /** 0..1: how full the node's GPUs end up (binpack's preference). */ fill: number;
    }
  | { ok: false; reason: string };

/** Higher is better: NV<n> by link count, then PCIe proximity. */
function linkRank(link: string | undefined): number {
  if (!link) return 0;
  const nv = /^NV(\d+)$/.exec(link);
  if (nv) return 10 + Number(nv[1]);
  return { PIX: 6, PXB: 5, PHB: 4, NODE: 3, SOC: 2, SYS: 1 }[link] ?? 0;
}

/** The k GPUs among `free` whose weakest pairwise link is the strongest (all subsets; k and n are small). */
export function bestLinked<T extends { device: GpuDevice }>(free: T[], k: number): T[] {
  if (k === 1 || free.length <= k) return free.slice(0, k);
  let best: T[] = free.slice(0, k);
  let bestScore = -1;
  const pick: T[] = [];
  const walk = (start: number) => {
    if (pick.length === k) {
      let weakest = Number.POSITIVE_INFINITY;
      for (let i = 0; i < k; i++)
        for (let j = i + 1; j < k; j++)
          weakest = Math.min(weakest, linkRank(pick[i]!.device.links[pick[j]!.device.index]));
      if (weakest > bestScore) {
        bestScore = weakest;
        best = [...pick];
      }
      return;
    }
    for (let i = start; i <= free.length - (k - pick.length); i++) {
      pick.push(free[i]!);
      walk(i + 1);
      pick.pop();
    }
  };
  walk(0);
  return best;
}

/** Can the GPU take one GPU's part of the container: the shared rule (../gpu/gpu-fit.ts). */
export function takes(g: GpuFree, c: ContainerGpuRequest): boolean {
  return gpuTakes(
    milliFromVgpuCore(g.core),
    g.memoryMiB,
    g.device.memoryMiB,
    milliFromVgpuCore(c.core),
    c.memoryMiB,
  );
}

/** Why too few GPUs can take a whole-GPU container; names the memory when that is what is missing. */
function wholeMisfit(usable: readonly GpuFree[], c: ContainerGpuRequest, fitting: number): string {
  const want = `${c.gpus} whole GPU${c.gpus > 1 ? 's' : ''}`;
  const idle = usable.filter((g) => g.core === 100 && g.memoryMiB === g.device.memoryMiB).length;
  if (idle === fitting) return `needs ${want}, ${fitting} free`;
  return `needs ${want} with at least ${c.memoryMiB} MiB each, ${fitting} free (${idle} idle GPU${idle === 1 ? '' : 's'} in all)`;
}

export function fitPod(gpus: readonly GpuFree[], request: PodGpuRequest, policy: GpuPolicy): GpuFit {
  if (gpus.length === 0) return { ok: false, reason: 'node has no GPU inventory' };
  // Copies, because placing one container changes what the next one finds; the caller's stay as they are.
  const usable: GpuFree[] = [];
  for (const g of gpus) {
    if (!g.device.healthy || g.device.mig) continue;
    if (!acceptsGpuModel(request.models, g.device.model)) continue;
    usable.push({ device: g.device, core: g.core, memoryMiB: g.memoryMiB });
  }
  if (usable.length === 0) {
    return {
      ok: false,
      reason: request.models.length > 0 ? `no healthy ${request.models.join('|')} GPU` : 'no healthy GPU',
    };
  }
  const containers: Record<string, GpuShare[]> = {};
  for (const c of request.containers) {
    const fits = usable.filter((g) => takes(g, c));
    if (c.core === 100) {
      if (fits.length < c.gpus) return { ok: false, reason: wholeMisfit(usable, c, fits.length) };
      const chosen = bestLinked(fits, c.gpus);
      containers[c.container] = chosen.map((g) => ({
        index: g.device.index,
        core: 100,
        memoryMiB: g.device.memoryMiB,
      }));
      for (const g of chosen) {
        g.core = 0;
        g.memoryMiB = 0;
      }
      continue;
    }
    const memory = c.memoryMiB;
    if (fits.length === 0) {
      const most = Math.max(...usable.map((g) => g.core));
      return {
        ok: false,
        reason: `no GPU with ${c.core} core${memory ? ` and ${memory} MiB` : ''} free (most free: ${most} core)`,
      };
    }
    // Best fit keeps whole GPUs whole for whole-GPU pods; spread evens the load out.
    fits.sort(
      (a, b) => (policy === 'spread' ? b.core - a.core : a.core - b.core) || a.device.index - b.device.index,
    );
    const g = fits[0]!;
    const taken = Math.min(
      gpuMemoryTaken(milliFromVgpuCore(c.core), memory, g.device.memoryMiB),
      g.memoryMiB,
    );
    containers[c.container] = [{ index: g.device.index, core: c.core, memoryMiB: taken }];
    g.core -= c.core;
    g.memoryMiB -= taken;
  }
  const total = usable.length * 100;
  const left = usable.reduce((sum, g) => sum + g.core, 0);
  return { ok: true, containers, fill: 1 - left / total };
}
