// Extended resources loadwise advertises through the device plugin and the extender manages.

/** Share of one GPU's compute, in hundredths: 100 is a whole GPU; above 100, whole GPUs only. */
export const VGPU_CORE_RESOURCE = 'loadwise.io/vgpu-core';
/** GPU memory, in units of `VGPU_MEMORY_UNIT_MIB` (configurable). */
export const VGPU_MEMORY_RESOURCE = 'loadwise.io/vgpu-memory';

export const VGPU_CORE_PER_GPU = 100;
export const DEFAULT_VGPU_MEMORY_UNIT_MIB = 256;

/**
 * gpu-manager's (tkestack) compute share resource: pods that request it are routed to the loadwise
 * scheduler too (configs/components/vgpu-routing).
 */
export const GPU_MANAGER_VCUDA_CORE_RESOURCE = 'tencent.com/vcuda-core';
