// A node's GPUs as the agent reports them and the controller publishes them on the Node, for the
// extender's placement. One versioned JSON document; short keys because it lives in an annotation
// (a 8-GPU node fits in well under 2 KiB).

/** Node annotation holding `encodeGpuInventory(...)`. */
export const GPU_INVENTORY_ANNOTATION = 'loadwise.io/gpu-inventory';
export const GPU_INVENTORY_VERSION = 1;

/**
 * How two GPUs are connected, as `nvidia-smi topo -m` names it: `NV<n>` (n bonded NVLinks), `PIX`,
 * `PXB`, `PHB`, `NODE`, `SYS`; best to worst. `X` is the GPU itself.
 */
export type GpuLink = string;

export interface GpuDevice {
  index: number;
  uuid: string;
  model: string;
  memoryMiB: number;
  /** MIG partitions the GPU; loadwise does not share a GPU in MIG mode. */
  mig: boolean;
  healthy: boolean;
  /** Link to every GPU of the node by index (`X` for itself); empty when unknown. */
  links: GpuLink[];
}

export interface GpuInventory {
  gpus: GpuDevice[];
}

interface WireGpu {
  i: number;
  u: string;
  m: string;
  mem: number;
  mig?: 1;
  bad?: 1;
  l?: string[];
}

export function encodeGpuInventory(inventory: GpuInventory): string {
  const gpus: WireGpu[] = inventory.gpus.map((g) => ({
    i: g.index,
    u: g.uuid,
    m: g.model,
    mem: g.memoryMiB,
    ...(g.mig ? { mig: 1 as const } : {}),
    ...(g.healthy ? {} : { bad: 1 as const }),
    ...(g.links.length > 0 ? { l: g.links } : {}),
  }));
  return JSON.stringify({ v: GPU_INVENTORY_VERSION, gpus });
}

const MAX_INVENTORY_BYTES = 64 * 1024;
const MAX_GPUS = 64;
const LINK = /^(X|NV\d{1,2}|PIX|PXB|PHB|NODE|SYS|SOC)$/;

/** Strict decode of the annotation; never throws. */
export function decodeGpuInventory(
  text: string,
): { ok: true; inventory: GpuInventory } | { ok: false; error: string } {
  if (text.length > MAX_INVENTORY_BYTES) return { ok: false, error: 'inventory too large' };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, error: 'inventory is not JSON' };
  }
  const { v, gpus } = (doc ?? {}) as { v?: unknown; gpus?: unknown };
  if (v !== GPU_INVENTORY_VERSION)
    return { ok: false, error: `unsupported inventory version ${JSON.stringify(v)}` };
  if (!Array.isArray(gpus) || gpus.length > MAX_GPUS)
    return { ok: false, error: `gpus must be a list of at most ${MAX_GPUS}` };
  const out: GpuDevice[] = [];
  const seen = new Set<number>();
  for (const g of gpus as WireGpu[]) {
    if (typeof g !== 'object' || g === null) return { ok: false, error: 'a GPU entry is not an object' };
    if (!Number.isSafeInteger(g.i) || g.i < 0 || g.i >= MAX_GPUS || seen.has(g.i))
      return { ok: false, error: 'bad or repeated GPU index' };
    if (typeof g.u !== 'string' || g.u.length === 0 || g.u.length > 128)
      return { ok: false, error: `GPU ${g.i}: bad uuid` };
    if (typeof g.m !== 'string' || g.m.length > 128) return { ok: false, error: `GPU ${g.i}: bad model` };
    if (!Number.isSafeInteger(g.mem) || g.mem <= 0)
      return { ok: false, error: `GPU ${g.i}: memory must be positive MiB` };
    const links = g.l ?? [];
    if (
      !Array.isArray(links) ||
      links.length > MAX_GPUS ||
      !links.every((l) => typeof l === 'string' && LINK.test(l))
    ) {
      return { ok: false, error: `GPU ${g.i}: bad links` };
    }
    seen.add(g.i);
    out.push({
      index: g.i,
      uuid: g.u,
      model: g.m,
      memoryMiB: g.mem,
      mig: g.mig === 1,
      healthy: g.bad !== 1,
      links,
    });
  }
  return { ok: true, inventory: { gpus: out.sort((a, b) => a.index - b.index) } };
}
