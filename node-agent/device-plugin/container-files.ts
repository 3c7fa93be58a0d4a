// The per-container directories on the host that an Allocate answer mounts: a read-only config
// directory holding vgpu.config (the container must not raise its own limits) and a writable run
// directory holding the shared accounting region all the container's processes map.
import { chmodSync, closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { VGPU_RUN_CONTAINER_DIR } from '../../contracts/device-plugin.ts';
import {
  VGPU_CONFIG_FILE,
  VGPU_SHARED_REGION_FILE,
  type VgpuConfig,
  encodeVgpuConfig,
} from '../../contracts/vgpu-config.ts';
import { removeOrphanTemps, writeFileAtomic } from './atomic-file.ts';

// Pod UIDs are UUIDs and container names DNS labels: neither holds `_` or `.`, so
// `<uid>_<container>` and `<uid>_<container>.run` are unambiguous, and anything else must not
// become a path. Flat names under the root: two mkdirs per container in the Allocate path, not four.
const SAFE = /^[A-Za-z0-9][A-Za-z0-9-]{0,120}$/;
const SEPARATOR = '_';
/** rwxrwxrwt: see writeContainerFiles. */
export const RUN_DIR_MODE = 0o1777;

export interface ContainerDirs {
  configDir: string;
  runDir: string;
}

export function containerDirs(root: string, podUID: string, container: string): ContainerDirs {
  if (!SAFE.test(podUID) || !SAFE.test(container)) {
    throw new RangeError(`unsafe pod UID or container name for a path: ${podUID}/${container}`);
  }
  const base = join(root, `${podUID}${SEPARATOR}${container}`);
  return { configDir: base, runDir: `${base}.run` };
}

/**
 * Writes the container's config and creates its run directory. The config is replaced
 * atomically (temp + rename), so a process starting in a running container reads the old or the
 * new file, never half of one. `fresh` (a first Allocate for the container) creates the file in
 * place instead when it does not exist yet: nothing can read it before kubelet has the answer,
 * and that comes after this returns, so the temp name and the rename (a directory update, the
 * costliest step here on ext4) buy nothing. A file a crash left half-written exists, and so is
 * replaced the atomic way by the retry or by start()'s rewrite.
 */
export async function writeContainerFiles(
  dirs: ContainerDirs,
  config: Omit<VgpuConfig, 'sharedRegionPath'>,
  fresh = false,
): Promise<void> {
  const text = encodeVgpuConfig({
    ...config,
    sharedRegionPath: `${VGPU_RUN_CONTAINER_DIR}/${VGPU_SHARED_REGION_FILE}`,
  });
  mkdirSync(dirs.configDir, { recursive: true });
  // Writable by any user (the container's processes may run as any) but sticky, like /tmp: the
  // region file the first process creates is private to its user (native/README.md), and no other
  // user can delete or replace it. chmod, because mkdir's mode is cut by the umask.
  mkdirSync(dirs.runDir, { recursive: true });
  chmodSync(dirs.runDir, RUN_DIR_MODE);
  // Not fsynced: the checkpoint is the durable record, and start() rewrites every held
  // container's file from it, so a power cut cannot leave a container without its limits.
  const path = join(dirs.configDir, VGPU_CONFIG_FILE);
  if (fresh && createNew(path, text)) return;
  writeFileAtomic(path, text, {
    mode: 0o644,
    durable: false,
    ensureDir: false,
  });
}

/** Creates `path` with `text` unless it exists (O_EXCL: never through a planted link); false when it does. */
function createNew(path: string, text: string): boolean {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    writeSync(fd, text);
  } catch (err) {
    closeSync(fd);
    // Not left half-written for the container that will mount it.
    rmSync(path, { force: true });
    throw err;
  }
  closeSync(fd);
  return true;
}

/** Removes the config temp files a crash left in the container directories under `root`. */
export async function removeContainerTemps(root: string): Promise<number> {
  const names = await readdir(root).catch(() => [] as string[]);
  let removed = 0;
  for (const name of names) {
    if (name.includes(SEPARATOR) && !name.endsWith('.run'))
      removed += removeOrphanTemps(join(root, name, VGPU_CONFIG_FILE)).length;
  }
  return removed;
}

/** The pod UIDs that have directories under `root`. */
export async function podsWithFiles(root: string): Promise<Set<string>> {
  const uids = new Set<string>();
  let names: string[];
  try {
    names = await readdir(root);
  } catch {
    return uids;
  }
  for (const name of names) {
    const cut = name.indexOf(SEPARATOR);
    if (cut > 0) uids.add(name.slice(0, cut));
  }
  return uids;
}

export async function removePodFiles(root: string, podUID: string): Promise<void> {
  if (!SAFE.test(podUID)) return;
  const prefix = `${podUID}${SEPARATOR}`;
  const names = await readdir(root).catch(() => [] as string[]);
  for (const name of names) {
    if (name.startsWith(prefix)) await rm(join(root, name), { recursive: true, force: true });
  }
}
