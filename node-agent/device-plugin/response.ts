// What kubelet is told to put into a GPU container: environment, device nodes and mounts. Pure
// apart from checking which /dev entries exist, so the same answer comes back for the same inputs.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  LD_SO_PRELOAD_CONTAINER_PATH,
  LD_SO_PRELOAD_FILE,
  VGPU_LIBRARY_CONTAINER_PATH,
  VGPU_LIBRARY_FILE,
  VGPU_RUN_CONTAINER_DIR,
} from '../../contracts/device-plugin.ts';
import {
  DEFAULT_VGPU_CONFIG_DIR,
  VGPU_CONFIG_DIR_ENV,
  VGPU_CORE_LIMIT_ENV,
  type VgpuConfig,
  vgpuMemoryLimitEnv,
} from '../../contracts/vgpu-config.ts';
import type { ContainerDirs } from './container-files.ts';
import type { ContainerAllocation } from './matcher.ts';
import type { ContainerAllocateResponse, DeviceSpec, Mount } from './proto.ts';

export const MIB = 1024 * 1024;

export interface ResponseEnvironment {
  /** Where the agent sees the host's /dev (host paths in the answer are always /dev/...). */
  devRoot: string;
  /** Host directory holding libvcuda-control.so and ld.so.preload. */
  libraryDir: string;
}

/**
 * The config the native library reads. A container spanning several GPUs gets whole GPUs (the
 * extender only splits single-GPU requests), so one core limit serves all its devices: the
 * smallest share, which is 100 whenever there are several.
 */
export function configFor(allocation: ContainerAllocation): Omit<VgpuConfig, 'sharedRegionPath'> {
  return {
    coreLimitPercent: Math.min(...allocation.shares.map((s) => s.core)),
    coreMode: 'hard',
    devices: allocation.shares.map((s, i) => ({
      index: i,
      uuid: s.uuid,
      memoryLimitBytes: s.memoryMiB * MIB,
    })),
  };
}

export function buildContainerResponse(
  allocation: ContainerAllocation,
  dirs: ContainerDirs,
  env: ResponseEnvironment,
): ContainerAllocateResponse {
  const config = configFor(allocation);
  const envs: Record<string, string> = {
    NVIDIA_VISIBLE_DEVICES: allocation.shares.map((s) => s.uuid).join(','),
    [VGPU_CONFIG_DIR_ENV]: DEFAULT_VGPU_CONFIG_DIR,
    [VGPU_CORE_LIMIT_ENV]: String(config.coreLimitPercent),
  };
  for (const device of config.devices)
    envs[vgpuMemoryLimitEnv(device.index)] = String(device.memoryLimitBytes);

  const devices: DeviceSpec[] = [];
  const addDevice = (name: string) => {
    if (existsSync(join(env.devRoot, name))) {
      devices.push({ container_path: `/dev/${name}`, host_path: `/dev/${name}`, permissions: 'rw' });
    }
  };
  addDevice('nvidiactl');
  addDevice('nvidia-uvm');
  addDevice('nvidia-uvm-tools');
  for (const share of allocation.shares) addDevice(`nvidia${share.index}`);

  const mounts: Mount[] = [
    {
      container_path: VGPU_LIBRARY_CONTAINER_PATH,
      host_path: join(env.libraryDir, VGPU_LIBRARY_FILE),
      read_only: true,
    },
    {
      container_path: LD_SO_PRELOAD_CONTAINER_PATH,
      host_path: join(env.libraryDir, LD_SO_PRELOAD_FILE),
      read_only: true,
    },
    { container_path: DEFAULT_VGPU_CONFIG_DIR, host_path: dirs.configDir, read_only: true },
    { container_path: VGPU_RUN_CONTAINER_DIR, host_path: dirs.runDir, read_only: false },
  ];
  return { envs, mounts, devices, annotations: {}, cdi_devices: [] };
}
