// The kubelet device plugin API as loadwise uses it: the version, the socket names in kubelet's
// device-plugin directory, and how device IDs are spelled. The agent (plugin side) and the test
// kubelet both import these, so a rename cannot leave one side behind.
import { VGPU_RESOURCE_NAME_SETS, type VgpuResourceNameSet } from './resources.ts';

/** The device plugin API version loadwise speaks (kubelet's `pluginapi.Version`). */
export const DEVICE_PLUGIN_API_VERSION = 'v1beta1';
/** kubelet's Registration socket, inside the device-plugin directory. */
export const KUBELET_SOCKET = 'kubelet.sock';
export const DEFAULT_DEVICE_PLUGIN_DIR = '/var/lib/kubelet/device-plugins';
/** Health strings of the API (kubelet compares them verbatim). */
export const DEVICE_HEALTHY = 'Healthy';
export const DEVICE_UNHEALTHY = 'Unhealthy';
/** kubelet refuses device IDs longer than this. */
export const MAX_DEVICE_ID_LENGTH = 63;

export type VgpuResourceKind = 'core' | 'memory';

export const VGPU_RESOURCE_NAMES: Readonly<Record<VgpuResourceKind, string>> =
  VGPU_RESOURCE_NAME_SETS.loadwise;

/** The names the device plugin registers for a name set (`--resource-names`). */
export function vgpuResourceNames(set: VgpuResourceNameSet): Readonly<Record<VgpuResourceKind, string>> {
  return VGPU_RESOURCE_NAME_SETS[set];
}

/** Our sockets in the device-plugin directory, one gRPC server per resource. */
export const VGPU_PLUGIN_SOCKETS: Readonly<Record<VgpuResourceKind, string>> = {
  core: 'loadwise-vgpu-core.sock',
  memory: 'loadwise-vgpu-memory.sock',
};

/** Where the agent mounts the native library and the preload list inside a GPU container. */
export const VGPU_LIBRARY_CONTAINER_PATH = '/usr/local/loadwise/lib/libvcuda-control.so';
export const LD_SO_PRELOAD_CONTAINER_PATH = '/etc/ld.so.preload';
/** The library's file name inside the agent's library directory on the host. */
export const VGPU_LIBRARY_FILE = 'libvcuda-control.so';
/** The preload list's file name inside the agent's library directory on the host. */
export const LD_SO_PRELOAD_FILE = 'ld.so.preload';
/** The writable directory a GPU container shares its accounting region through. */
export const VGPU_RUN_CONTAINER_DIR = '/var/run/loadwise/vgpu';

/** `<uuid>-core-<n>` / `<uuid>-memory-<n>`: the unit n of one GPU. */
export function vgpuDeviceId(kind: VgpuResourceKind, uuid: string, unit: number): string {
  return `${uuid}-${kind}-${unit}`;
}

const DEVICE_ID = /^(.+)-(core|memory)-(0|[1-9]\d{0,5})$/;

/** The GPU and unit a device ID names, or undefined when it is not one of ours. */
export function parseVgpuDeviceId(
  id: string,
): { uuid: string; kind: VgpuResourceKind; unit: number } | undefined {
  if (id.length > MAX_DEVICE_ID_LENGTH) return undefined;
  const m = DEVICE_ID.exec(id);
  if (!m) return undefined;
  return { uuid: m[1]!, kind: m[2] as VgpuResourceKind, unit: Number(m[3]) };
}
