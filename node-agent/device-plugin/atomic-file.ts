// Writes a file so that a crash leaves either the old or the new contents, never a torn mix: temp
// file in the same directory, then rename over the target. `durable` adds fsync of the file before
// the rename and of the directory after it, so the new contents also survive a power cut; files
// that can be rebuilt from something durable skip that cost.
//
// Synchronous on purpose: it runs inside Allocate, which is serialised anyway, and six thread-pool
// round trips cost more than the work itself (measured: 2.3 ms async vs 1.2 ms sync for a durable
// 50 KB write, worse under load). The event loop is held for about a millisecond.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  renameSync,
  rmSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  mode?: number;
  durable?: boolean;
  /** Create the directory first (default); callers that just made it skip the syscall. */
  ensureDir?: boolean;
}

const TEMP_SUFFIX = '.tmp';

/**
 * Removes the temp files writeFileAtomic leaves next to `path` when the process is killed between
 * creating one and renaming it (kill -9, OOM, power cut). Only this file's own temp names are
 * touched; call it at start, before anything writes `path`. Returns the names removed.
 */
export function removeOrphanTemps(path: string): string[] {
  const dir = dirname(path);
  const prefix = `.${basename(path)}.`;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const orphans = names.filter(
    (n) =>
      n.startsWith(prefix) &&
      n.endsWith(TEMP_SUFFIX) &&
      /^[0-9a-f]{8}$/.test(n.slice(prefix.length, -TEMP_SUFFIX.length)),
  );
  for (const name of orphans) rmSync(join(dir, name), { force: true });
  return orphans;
}

export function writeFileAtomic(path: string, data: string, options: AtomicWriteOptions = {}): void {
  const { mode = 0o644, durable = true, ensureDir = true } = options;
  const dir = dirname(path);
  if (ensureDir) mkdirSync(dir, { recursive: true });
  const temp = join(dir, `.${basename(path)}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);
  const fd = openSync(temp, 'w', mode);
  try {
    writeSync(fd, data);
    if (durable) fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, path);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // Already closed: the failure came later.
    }
    rmSync(temp, { force: true });
    throw err;
  }
  if (!durable) return;
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
