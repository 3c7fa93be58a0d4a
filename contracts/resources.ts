// Extended resources loadwise advertises through the device plugin and the extender manages.

/** Share of one GPU's compute, in hundredths: 100 is a whole GPU; above 100, whole GPUs only. */
export const VGPU_CORE_RESOURCE = 'loadwise.io/vgpu-core';
/** GPU memory, in units of `VGPU_MEMORY_UNIT_MIB` (configurable). */
export const VGPU_MEMORY_RESOURCE = 'loadwise.io/vgpu-memory';

export const VGPU_CORE_PER_GPU = 100;
export const DEFAULT_VGPU_MEMORY_UNIT_MIB = 256;

/**
 * The resource names a node's device plugin registers: loadwise's, or Tencent gpu-manager's, so a
 * cluster whose pod specs, ResourceQuotas and LimitRanges name `tencent.com/vcuda-*` moves over
 * unchanged. gpu-manager's units are loadwise's defaults: 100 vcuda-core per GPU, vcuda-memory in
 * 256 MiB. A node registers one set, never both: kube-scheduler would see twice the capacity.
 */
export const VGPU_RESOURCE_NAME_SETS = {
  loadwise: { core: VGPU_CORE_RESOURCE, memory: VGPU_MEMORY_RESOURCE },
  'gpu-manager': { core: 'tencent.com/vcuda-core', memory: 'tencent.com/vcuda-memory' },
} as const satisfies Record<string, Record<'core' | 'memory', string>>;
export type VgpuResourceNameSet = keyof typeof VGPU_RESOURCE_NAME_SETS;
export const VGPU_RESOURCE_NAME_SET_CHOICES = Object.keys(VGPU_RESOURCE_NAME_SETS) as VgpuResourceNameSet[];

/** gpu-manager's vcuda-memory unit, fixed (loadwise's own unit is configurable). */
export const GPU_MANAGER_MEMORY_UNIT_MIB = 256;

type ResourceList = Readonly<Record<string, unknown>> | undefined;

/**
 * What a container asks of one vGPU resource under either name set (limits, else requests), and
 * the set it used. `conflict` when it names the same resource in both sets: one of them would be
 * a second, unrelated request for the same GPU, so neither is guessed.
 */
export function vgpuResourceQuantity(
  resources: { limits?: ResourceList; requests?: ResourceList } | undefined,
  kind: 'core' | 'memory',
): { value: unknown; set: VgpuResourceNameSet } | { conflict: string } | undefined {
  let found: { value: unknown; set: VgpuResourceNameSet } | undefined;
  for (const set of VGPU_RESOURCE_NAME_SET_CHOICES) {
    const name = VGPU_RESOURCE_NAME_SETS[set][kind];
    const value = resources?.limits?.[name] ?? resources?.requests?.[name];
    if (value === undefined) continue;
    if (found) {
      const other = VGPU_RESOURCE_NAME_SETS[found.set][kind];
      return { conflict: `asks for both ${other} and ${name}; use one name set` };
    }
    found = { value, set };
  }
  return found;
}

/**
 * gpu-manager's (tkestack) compute share resource: pods that request it are routed to the loadwise
 * scheduler too (configs/components/vgpu-routing).
 */
export const GPU_MANAGER_VCUDA_CORE_RESOURCE = VGPU_RESOURCE_NAME_SETS['gpu-manager'].core;
