// The per-container directories on the host that an Allocate answer mounts: a read-only config
// directory holding vgpu.config (the container must not raise its own limits) and a writable run
// directory holding the shared accounting region all the container's processes map.
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { VGPU_RUN_CONTAINER_DIR } from '../../contracts/device-plugin.ts';
import {
  VGPU_CONFIG_FILE,
  VGPU_SHARED_REGION_FILE,
  type VgpuConfig,
  encodeVgpuConfig,
} from '../../contracts/vgpu-config.ts';
import { writeFileAtomic } from './atomic-file.ts';

// Pod UIDs are UUIDs and container names DNS labels; anything else must not become a path.
const SAFE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/;

export interface ContainerDirs {
  configDir: string;
  runDir: string;
}

export function containerDirs(root: string, podUID: string, container: string): ContainerDirs {
  if (!SAFE.test(podUID) || !SAFE.test(container)) {
    throw new RangeError(`unsafe pod UID or container name for a path: ${podUID}/${container}`);
  }
  const base = join(root, podUID, container);
  return { configDir: join(base, 'config'), runDir: join(base, 'run') };
}

/** Writes the container's config (atomically) and creates its run directory. */
export async function writeContainerFiles(
  dirs: ContainerDirs,
  config: Omit<VgpuConfig, 'sharedRegionPath'>,
): Promise<void> {
  const text = encodeVgpuConfig({
    ...config,
    sharedRegionPath: `${VGPU_RUN_CONTAINER_DIR}/${VGPU_SHARED_REGION_FILE}`,
  });
  // World-readable and -writable run dir: the container's processes may run as any user.
  await mkdir(dirs.runDir, { recursive: true, mode: 0o777 });
  await writeFileAtomic(join(dirs.configDir, VGPU_CONFIG_FILE), text, 0o644);
}

export async function removePodFiles(root: string, podUID: string): Promise<void> {
  if (!SAFE.test(podUID)) return;
  await rm(join(root, podUID), { recursive: true, force: true });
}
