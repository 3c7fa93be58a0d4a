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

/**
 * Node labels the controller writes from a GPU node's inventory (gpu-manager's node-labels), for
 * nodeSelector and affinity: `loadwise.io/gpu-model=NVIDIA-A100-SXM4-80GB`, `loadwise.io/gpu-count=8`,
 * `loadwise.io/gpu-memory-mib=81920`.
 */
export const GPU_NODE_LABELS = {
  model: 'loadwise.io/gpu-model',
  count: 'loadwise.io/gpu-count',
  memoryMiB: 'loadwise.io/gpu-memory-mib',
} as const;

const LABEL_VALUE_MAX = 63;

/**
 * Text as a valid label value: at most 63 characters of [A-Za-z0-9._-], starting and ending with
 * an alphanumeric ("NVIDIA A100-SXM4-80GB" → "NVIDIA-A100-SXM4-80GB"); "" when nothing is left.
 */
export function labelValue(text: string): string {
  const trim = (s: string) => s.replace(/^[^A-Za-z0-9]+/, '').replace(/[^A-Za-z0-9]+$/, '');
  const cleaned = trim(text.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/-{2,}/g, '-'));
  return trim(cleaned.slice(0, LABEL_VALUE_MAX));
}

/**
 * The GPU labels for a node's GPUs; empty for a node without any. With mixed models the model is
 * the one most of its GPUs are (ties: the lowest index's), the count all GPUs, and the memory the
 * smallest GPU's, so a nodeSelector on memory never promises more than every GPU has.
 */
export function gpuNodeLabels(
  gpus: readonly Pick<GpuDevice, 'index' | 'model' | 'memoryMiB'>[],
): Record<string, string> {
  if (gpus.length === 0) return {};
  const byModel = new Map<string, number>();
  for (const g of [...gpus].sort((a, b) => a.index - b.index))
    byModel.set(g.model, (byModel.get(g.model) ?? 0) + 1);
  let model = '';
  let most = 0;
  for (const [m, n] of byModel) {
    if (n > most) {
      model = m;
      most = n;
    }
  }
  const out: Record<string, string> = {
    [GPU_NODE_LABELS.count]: String(gpus.length),
    [GPU_NODE_LABELS.memoryMiB]: String(Math.min(...gpus.map((g) => Math.floor(g.memoryMiB)))),
  };
  const value = labelValue(model);
  if (value !== '') out[GPU_NODE_LABELS.model] = value;
  return out;
}
