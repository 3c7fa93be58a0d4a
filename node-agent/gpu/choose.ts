// --gpu-provider: which GPU source the agent uses.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { NvidiaSmiProvider } from './nvidia-smi-provider.ts';
import type { GpuProvider, GpuProviderChoice } from './provider.ts';
import type { Allocations } from './simulated-provider.ts';

export async function nvidiaSmiWorks(): Promise<boolean> {
  try {
    await promisify(execFile)('nvidia-smi', ['-L'], { timeout: 5_000 });
    return true;
  } catch {
    return false;
  }
}

/** Throws with a readable message on a choice that cannot work (simulated without a file). */
export async function chooseGpuProvider(
  choice: GpuProviderChoice,
  inventoryFile: string | undefined,
  node: string,
  allocations?: Allocations,
): Promise<GpuProvider | undefined> {
  switch (choice) {
    case 'none':
      return undefined;
    case 'nvidia-smi':
      return new NvidiaSmiProvider();
    case 'simulated': {
      if (!inventoryFile) throw new Error('--gpu-provider simulated needs --gpu-inventory FILE');
      // Loaded on demand: its YAML schema checker is not needed on a real GPU node.
      const { SimulatedProvider } = await import('./simulated-provider.ts');
      return SimulatedProvider.fromFile(inventoryFile, node, allocations);
    }
    case 'auto':
      return (await nvidiaSmiWorks()) ? new NvidiaSmiProvider() : undefined;
  }
}
