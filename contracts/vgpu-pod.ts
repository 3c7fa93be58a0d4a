// Pod annotations that carry a vGPU placement from the extender (at bind) to the node agent (at
// Allocate). The extender writes the assignment and the assume time before it creates the Binding;
// the agent matches kubelet's Allocate to the pod by them and marks the pod allocated.

/** The GPUs chosen for each container: `VgpuAssignment` as compact JSON. */
export const VGPU_ASSIGNMENT_ANNOTATION = 'loadwise.io/vgpu-assignment';
/** When the extender made the assignment: epoch milliseconds, decimal. Orders pods for Allocate. */
export const VGPU_ASSUME_TIME_ANNOTATION = 'loadwise.io/vgpu-assume-time';
/** Set by the agent once kubelet's Allocate for the pod was answered: RFC 3339 UTC. */
export const VGPU_ALLOCATED_ANNOTATION = 'loadwise.io/vgpu-allocated';
/** A pod's GPU model constraint, e.g. `A100|H100` (any of them; empty means any model). */
export const GPU_MODEL_ANNOTATION = 'loadwise.io/gpu-model';

function isAlphanumeric(c: string | undefined): boolean {
  return c !== undefined && /[a-z0-9]/.test(c);
}

/**
 * Does a GPU of product name `model` satisfy the wanted name? Case-insensitive, and the wanted
 * name must stand as whole words in the product name: "A100" matches "NVIDIA A100-SXM4-80GB",
 * "a100-sxm4" does too, but "A10" matches neither "A100" nor "NVIDIA A100-PCIE-40GB".
 */
export function gpuModelMatches(wanted: string, model: string): boolean {
  const w = wanted.toLowerCase();
  const m = model.toLowerCase();
  if (w.length === 0) return false;
  for (let i = m.indexOf(w); i >= 0; i = m.indexOf(w, i + 1)) {
    if (!isAlphanumeric(m[i - 1]) && !isAlphanumeric(m[i + w.length])) return true;
  }
  return false;
}

/** Any of `wanted` (no constraint when empty). */
export function acceptsGpuModel(wanted: readonly string[], model: string): boolean {
  return wanted.length === 0 || wanted.some((w) => gpuModelMatches(w, model));
}

export const VGPU_ASSIGNMENT_VERSION = 1;
/** Bounds that keep a hostile annotation from costing anything to read. */
const MAX_ASSIGNMENT_BYTES = 16 * 1024;
const MAX_CONTAINERS = 64;
const MAX_GPUS_PER_CONTAINER = 16;

export interface GpuShare {
  /** The GPU's index on the node (nvidia-smi's index). */
  index: number;
  /** Hundredths of the GPU's compute: 1..100. */
  core: number;
  /** GPU memory in MiB. */
  memoryMiB: number;
}

export interface VgpuAssignment {
  /** Container name → the GPUs it gets. Containers without GPUs are absent. */
  containers: Record<string, GpuShare[]>;
}

export function encodeVgpuAssignment(assignment: VgpuAssignment): string {
  return JSON.stringify({ v: VGPU_ASSIGNMENT_VERSION, containers: assignment.containers });
}

const isIndex = (n: unknown, max: number): n is number =>
  Number.isSafeInteger(n) && (n as number) >= 0 && (n as number) <= max;

/** Strict decode; never throws. */
export function decodeVgpuAssignment(
  text: string,
): { ok: true; assignment: VgpuAssignment } | { ok: false; error: string } {
  if (text.length > MAX_ASSIGNMENT_BYTES)
    return { ok: false, error: `assignment longer than ${MAX_ASSIGNMENT_BYTES} bytes` };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { ok: false, error: 'assignment is not JSON' };
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc))
    return { ok: false, error: 'assignment is not an object' };
  const { v, containers } = doc as { v?: unknown; containers?: unknown };
  if (v !== VGPU_ASSIGNMENT_VERSION)
    return { ok: false, error: `unsupported assignment version ${JSON.stringify(v)}` };
  if (typeof containers !== 'object' || containers === null || Array.isArray(containers)) {
    return { ok: false, error: 'containers must be an object' };
  }
  const entries = Object.entries(containers);
  if (entries.length > MAX_CONTAINERS) return { ok: false, error: `more than ${MAX_CONTAINERS} containers` };
  const out: Record<string, GpuShare[]> = {};
  for (const [name, shares] of entries) {
    if (!Array.isArray(shares) || shares.length === 0 || shares.length > MAX_GPUS_PER_CONTAINER) {
      return { ok: false, error: `container "${name}": expected 1..${MAX_GPUS_PER_CONTAINER} GPUs` };
    }
    const seen = new Set<number>();
    const list: GpuShare[] = [];
    for (const share of shares as unknown[]) {
      const { index, core, memoryMiB } = (share ?? {}) as Record<string, unknown>;
      if (!isIndex(index, 1023) || seen.has(index))
        return { ok: false, error: `container "${name}": bad or repeated GPU index` };
      if (!isIndex(core, 100) || core === 0)
        return { ok: false, error: `container "${name}": core must be 1..100` };
      if (!isIndex(memoryMiB, 2 ** 31) || memoryMiB === 0)
        return { ok: false, error: `container "${name}": memoryMiB must be positive` };
      seen.add(index);
      list.push({ index, core, memoryMiB });
    }
    out[name] = list;
  }
  return { ok: true, assignment: { containers: out } };
}

/** Hoisted: a regex literal in a function body is a new RegExp per call, and Allocate asks once per pod. */
const ASSUME_TIME = /^\d{1,15}$/;

/** The assume time, or undefined when absent or not a plain epoch-milliseconds number. */
export function decodeAssumeTime(text: string | undefined): number | undefined {
  if (text === undefined || !ASSUME_TIME.test(text)) return undefined;
  return Number(text);
}

/** Who records the agent's Kubernetes Events (source.component, reportingComponent). */
export const AGENT_EVENT_COMPONENT = 'loadwise-agent';
/** Event reason: a pod that failed admission for a vGPU resource is deleted so its controller recreates it. */
export const EVENT_REASON_RECREATE = 'LoadwiseRecreatePod';
/** Event reason: a bare pod (no controller) that failed admission for a vGPU resource; left as it is. */
export const EVENT_REASON_ADMISSION_FAILED = 'LoadwiseAdmissionFailed';
