// The one rule for whether a GPU can take (its part of) a container: the vGPU fit, the fgd scorer,
// the bind-time choice and the trace simulator all ask it, so none of them can place what another
// would refuse. Compute in the core's milli (1000 = a whole GPU), memory in MiB.
import { GPU_MILLI } from './units.ts';

/**
 * Can a GPU with `leftMilli` compute and `memoryFreeMib` of its `memoryTotalMib` free take one
 * GPU's part of a request for `needMilli` (1000: the whole GPU, exclusive) and `needMemoryMib`
 * (per GPU; 0: none asked)?
 * - A whole GPU must be wholly free and have at least the memory asked: a 40 GiB container never
 *   gets a 15 GiB card because the card is idle.
 * - A share needs its compute and its memory free (at least 1 MiB: a GPU whose memory is all
 *   handed out takes no more containers).
 * A GPU whose memory is not known (Infinity: a trace without GPU memory) is judged on compute.
 */
export function gpuTakes(
  leftMilli: number,
  memoryFreeMib: number,
  memoryTotalMib: number,
  needMilli: number,
  needMemoryMib: number,
): boolean {
  if (needMilli >= GPU_MILLI) {
    return leftMilli === GPU_MILLI && memoryFreeMib === memoryTotalMib && memoryTotalMib >= needMemoryMib;
  }
  return leftMilli >= needMilli && memoryFreeMib >= Math.max(needMemoryMib, 1);
}

/**
 * MiB a container's part takes on a GPU of `memoryTotalMib`: a whole GPU all of it; a share what
 * it asked, or, asking none, its compute's proportion of the GPU's memory.
 */
export function gpuMemoryTaken(needMilli: number, needMemoryMib: number, memoryTotalMib: number): number {
  if (needMilli >= GPU_MILLI) return memoryTotalMib;
  return needMemoryMib || Math.floor((memoryTotalMib * needMilli) / GPU_MILLI);
}
