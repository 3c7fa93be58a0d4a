// The GPU placement core counts a GPU's compute in milli (1000 = one whole GPU), the unit of the
// openb traces and of the FGD paper. The cluster contract counts in vgpu-core (100 = one GPU);
// converting at the boundary keeps one unit inside the core.
import { VGPU_CORE_PER_GPU } from '../../../contracts/resources.ts';

export const GPU_MILLI = 1000;

export function milliFromVgpuCore(vgpuCore: number): number {
  return Math.round((vgpuCore * GPU_MILLI) / VGPU_CORE_PER_GPU);
}

export function vgpuCoreFromMilli(milli: number): number {
  return Math.round((milli * VGPU_CORE_PER_GPU) / GPU_MILLI);
}
