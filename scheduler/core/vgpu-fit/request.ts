// What a pod asks of GPUs, per container, in the extender's units: compute in hundredths of a GPU
// (100 and more: whole GPUs, exclusive) and memory in MiB.
import type { V1Pod } from '@kubernetes/client-node';
import {
  DEFAULT_VGPU_MEMORY_UNIT_MIB,
  GPU_MANAGER_MEMORY_UNIT_MIB,
  GPU_MODEL_ANNOTATION,
  VGPU_CORE_PER_GPU,
  VGPU_RESOURCE_NAME_SETS,
  vgpuResourceQuantity,
} from '../../../contracts/index.ts';

export interface ContainerGpuRequest {
  container: string;
  /** Whole GPUs (core ≥ 100) or 1 for a share. */
  gpus: number;
  /** Per GPU: hundredths of its compute (100 for a whole GPU). */
  core: number;
  /** Per GPU, MiB; 0 means the whole memory of a whole GPU, or no memory limit asked for a share. */
  memoryMiB: number;
}

export interface PodGpuRequest {
  containers: ContainerGpuRequest[];
  /** Acceptable GPU models; empty means any. */
  models: string[];
}

function units(raw: unknown): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : Number.NaN;
}

/** The pod's GPU request, undefined for a pod without one, or an error a user can act on. */
export function podGpuRequest(
  pod: V1Pod,
  memoryUnitMiB = DEFAULT_VGPU_MEMORY_UNIT_MIB,
): { ok: true; request: PodGpuRequest | undefined } | { ok: false; error: string } {
  const containers: ContainerGpuRequest[] = [];
  for (const c of pod.spec?.containers ?? []) {
    // loadwise's names or gpu-manager's (tencent.com/vcuda-*): a node advertises one set, a pod may use either.
    const coreAsked = vgpuResourceQuantity(c.resources, 'core');
    const memoryAsked = vgpuResourceQuantity(c.resources, 'memory');
    if (coreAsked === undefined && memoryAsked === undefined) continue;
    for (const asked of [coreAsked, memoryAsked]) {
      if (asked && 'conflict' in asked) return { ok: false, error: `container ${c.name}: ${asked.conflict}` };
    }
    const coreSet = coreAsked && 'set' in coreAsked ? coreAsked.set : undefined;
    const memorySet = memoryAsked && 'set' in memoryAsked ? memoryAsked.set : undefined;
    const names = VGPU_RESOURCE_NAME_SETS[coreSet ?? memorySet ?? 'loadwise'];
    const core = units(coreAsked && 'value' in coreAsked ? coreAsked.value : undefined);
    const memory = units(memoryAsked && 'value' in memoryAsked ? memoryAsked.value : undefined);
    if (Number.isNaN(core) || Number.isNaN(memory)) {
      return { ok: false, error: `container ${c.name}: vGPU resources must be whole numbers` };
    }
    if (!core)
      return {
        ok: false,
        error: `container ${c.name}: ${names.memory} needs ${names.core} too`,
      };
    if (core > VGPU_CORE_PER_GPU && core % VGPU_CORE_PER_GPU !== 0) {
      return {
        ok: false,
        error: `container ${c.name}: ${names.core} ${core} above 100 must be a multiple of 100 (whole GPUs)`,
      };
    }
    // gpu-manager's vcuda-memory is always 256 MiB units; loadwise's unit is configurable.
    const unitMiB = memorySet === 'gpu-manager' ? GPU_MANAGER_MEMORY_UNIT_MIB : memoryUnitMiB;
    const whole = core >= VGPU_CORE_PER_GPU;
    containers.push({
      container: c.name,
      gpus: whole ? core / VGPU_CORE_PER_GPU : 1,
      core: whole ? VGPU_CORE_PER_GPU : core,
      memoryMiB: (memory ?? 0) * unitMiB,
    });
  }
  if (containers.length === 0) return { ok: true, request: undefined };
  const spec = pod.metadata?.annotations?.[GPU_MODEL_ANNOTATION] ?? '';
  const models = spec
    .split('|')
    .map((m) => m.trim())
    .filter((m) => m.length > 0);
  return { ok: true, request: { containers, models } };
}
