// The agent's own record of what it allocated, so a restart neither forgets an allocation (and
// hands its GPU share out twice) nor invents one. One JSON file, written atomically, with a
// checksum over its body: a torn or edited file is recognised as corrupt rather than half-read.
import { createHash } from 'node:crypto';
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerAllocation } from './matcher.ts';
import { removeOrphanTemps, writeFileAtomic } from './atomic-file.ts';

export const CHECKPOINT_FILE = 'loadwise-vgpu.checkpoint.json';
const CHECKPOINT_VERSION = 1;
/** A checkpoint larger than this is not ours (a node holds at most a few hundred containers). */
const MAX_CHECKPOINT_BYTES = 8 * 1024 * 1024;

export type CheckpointLoad =
  | { kind: 'missing' }
  | { kind: 'ok'; allocations: ContainerAllocation[] }
  | { kind: 'corrupt'; reason: string; movedTo: string | undefined };

function checksum(body: string): string {
  return createHash('sha256').update(body).digest('hex');
}

export class Checkpoint {
  readonly path: string;
  private dirMade = false;

  constructor(
    dir: string,
    private readonly nowMs: () => number,
  ) {
    this.path = join(dir, CHECKPOINT_FILE);
  }

  async save(node: string, allocations: readonly ContainerAllocation[]): Promise<void> {
    const body = JSON.stringify({ node, allocations });
    const doc = JSON.stringify({ version: CHECKPOINT_VERSION, checksum: checksum(body), body });
    writeFileAtomic(this.path, doc, { mode: 0o600, durable: true, ensureDir: !this.dirMade });
    this.dirMade = true;
  }

  /** Reads the checkpoint; a corrupt one is renamed aside (`.corrupt-<epoch ms>`) so it is kept for a post-mortem. */
  async load(): Promise<CheckpointLoad> {
    // A save cut short by a crash leaves its temp file behind; the checkpoint itself is intact.
    removeOrphanTemps(this.path);
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'missing' };
      return this.setAside(`unreadable: ${(err as Error).message}`);
    }
    const problem = text.length > MAX_CHECKPOINT_BYTES ? 'larger than 8 MiB' : undefined;
    const parsed = problem ? { error: problem } : parseCheckpoint(text);
    if ('error' in parsed) return this.setAside(parsed.error);
    return { kind: 'ok', allocations: parsed.allocations };
  }

  private async setAside(reason: string): Promise<CheckpointLoad> {
    const movedTo = `${this.path}.corrupt-${this.nowMs()}`;
    try {
      await rename(this.path, movedTo);
      return { kind: 'corrupt', reason, movedTo };
    } catch {
      return { kind: 'corrupt', reason, movedTo: undefined };
    }
  }
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function parseCheckpoint(text: string): { allocations: ContainerAllocation[] } | { error: string } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { error: 'not JSON' };
  }
  if (!isObj(doc) || doc.version !== CHECKPOINT_VERSION || typeof doc.body !== 'string') {
    return { error: `not a version ${CHECKPOINT_VERSION} checkpoint` };
  }
  if (doc.checksum !== checksum(doc.body)) return { error: 'checksum mismatch' };
  let body: unknown;
  try {
    body = JSON.parse(doc.body);
  } catch {
    return { error: 'body is not JSON' };
  }
  if (!isObj(body) || !Array.isArray(body.allocations)) return { error: 'no allocation list' };
  const allocations: ContainerAllocation[] = [];
  for (const raw of body.allocations as unknown[]) {
    const a = validAllocation(raw);
    if (!a) return { error: 'an allocation entry is malformed' };
    allocations.push(a);
  }
  return { allocations };
}

function validAllocation(raw: unknown): ContainerAllocation | undefined {
  if (!isObj(raw)) return undefined;
  const { podUID, namespace, podName, container, shares, request, deviceIds, allocatedAtMs } = raw;
  if (![podUID, namespace, podName, container].every(isStr) || !isCount(allocatedAtMs)) return undefined;
  if (!isObj(request) || !isCount(request.core) || !isCount(request.memory)) return undefined;
  if (!Array.isArray(shares) || shares.length === 0) return undefined;
  const okShares = shares.every(
    (s: unknown) => isObj(s) && isCount(s.index) && isCount(s.core) && isCount(s.memoryMiB) && isStr(s.uuid),
  );
  if (!okShares || !isObj(deviceIds)) return undefined;
  for (const [k, ids] of Object.entries(deviceIds)) {
    if ((k !== 'core' && k !== 'memory') || !Array.isArray(ids) || !ids.every(isStr)) return undefined;
  }
  return raw as unknown as ContainerAllocation;
}
