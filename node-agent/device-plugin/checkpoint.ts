// The agent's own record of what it allocated, so a restart neither forgets an allocation (and
// hands its GPU share out twice) nor invents one. Two files:
//
// - the snapshot, `loadwise-vgpu.checkpoint.json`: every allocation, one JSON document with a
//   checksum over its body, written atomically and durably (temp, fsync, rename, dir fsync). A torn
//   or edited file is recognised as corrupt rather than half-read.
// - the journal, `loadwise-vgpu.checkpoint.journal`: one line per allocation made since the
//   snapshot (`<sha256 of the JSON> <JSON>`), appended and fdatasync'ed. An Allocate costs one
//   append and one flush instead of rewriting the whole ledger with two fsyncs (measured on ext4
//   here: ~1.6 ms against ~9 ms at p50).
//
// The journal's first line names the snapshot it extends (a random id the snapshot's body holds);
// a journal of another snapshot is ignored. So a compaction (new snapshot, then journal reset) that
// dies between its two steps leaves a snapshot holding everything and a journal it disowns, and a
// freed allocation can never come back from an old journal. A torn last line (a crash mid-append,
// never acknowledged) is ignored; an invalid line followed by valid ones is corruption.
//
// A snapshot written before the journal existed has no id: it loads as before, and the first
// allocation after an upgrade writes a fresh snapshot (with an id) before journaling anything.
import { createHash, randomBytes } from 'node:crypto';
import {
  closeSync,
  constants,
  fdatasyncSync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  writeSync,
} from 'node:fs';
import { readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { ContainerAllocation } from './matcher.ts';
import { removeOrphanTemps, writeFileAtomic } from './atomic-file.ts';

export const CHECKPOINT_FILE = 'loadwise-vgpu.checkpoint.json';
export const JOURNAL_FILE = 'loadwise-vgpu.checkpoint.journal';
const CHECKPOINT_VERSION = 1;
/** A checkpoint (or journal) larger than this is not ours (a node holds at most a few hundred containers). */
const MAX_CHECKPOINT_BYTES = 8 * 1024 * 1024;
/** The journal is folded into a new snapshot once it is this large (~1,000 allocations). */
export const JOURNAL_COMPACT_BYTES = 512 * 1024;

export type CheckpointLoad =
  | { kind: 'missing' }
  | { kind: 'ok'; allocations: ContainerAllocation[] }
  | { kind: 'corrupt'; reason: string; movedTo: string | undefined };

function checksum(body: string): string {
  return createHash('sha256').update(body).digest('hex');
}

/** One journal line: the checksum, a space, the JSON, a newline. */
function journalLine(record: JournalRecord): string {
  const json = JSON.stringify(record);
  return `${checksum(json)} ${json}\n`;
}

type JournalRecord = { snapshot: string } | { put: ContainerAllocation };

function keyOf(a: ContainerAllocation): string {
  return `${a.podUID}/${a.container}`;
}

export class Checkpoint {
  readonly path: string;
  readonly journalPath: string;
  private dirMade = false;
  /** The open journal (read-write, records written at their offset); opened, and its directory entry made durable, once. */
  private journalFd: number | undefined;
  /**
   * The id of the snapshot the journal on disk extends, when the journal is known to end in a
   * whole record of it; undefined means the next record must write a snapshot first.
   */
  private journalOf: string | undefined;
  private journalBytes = 0;
  /** Where the journal's zero padding ends (its size on disk). */
  private paddedBytes = 0;

  constructor(
    dir: string,
    private readonly nowMs: () => number,
    /** Journal size that triggers a new snapshot (tests make it small). */
    private readonly compactBytes = JOURNAL_COMPACT_BYTES,
  ) {
    this.path = join(dir, CHECKPOINT_FILE);
    this.journalPath = join(dir, JOURNAL_FILE);
  }

  /**
   * Writes every allocation as a new snapshot and starts an empty journal for it (a compaction).
   * Used at recovery and by the sweep; Allocate uses `record`.
   */
  async save(node: string, allocations: readonly ContainerAllocation[]): Promise<void> {
    const id = randomBytes(8).toString('hex');
    this.journalOf = undefined;
    const body = JSON.stringify({ node, allocations, journal: id });
    const doc = JSON.stringify({ version: CHECKPOINT_VERSION, checksum: checksum(body), body });
    writeFileAtomic(this.path, doc, { mode: 0o600, durable: true, ensureDir: !this.dirMade });
    this.dirMade = true;
    // Dying here leaves the old journal, which names the old snapshot and so is ignored.
    const fd = this.openJournal();
    const header = journalLine({ snapshot: id });
    // The header, then zeros up to 64 KiB: records overwrite the zeros in place.
    const reset = padded(header, 0);
    ftruncateSync(fd, 0);
    writeAt(fd, reset, 0);
    fdatasyncSync(fd);
    this.journalBytes = Buffer.byteLength(header);
    this.paddedBytes = reset.length;
    this.journalOf = id;
  }

  /**
   * Makes one allocation (new or changed) durable: one journal append and one fdatasync. Writes a
   * full snapshot of `all()` instead when there is no journal to extend (first use, after an
   * upgrade, after a torn tail or a failed append) or the journal has grown past its bound.
   */
  async record(
    node: string,
    allocation: ContainerAllocation,
    all: () => readonly ContainerAllocation[],
  ): Promise<void> {
    if (this.journalOf === undefined || this.journalBytes >= this.compactBytes) {
      await this.save(node, all());
      return;
    }
    const fd = this.openJournal();
    const line = journalLine({ put: allocation });
    const bytes = Buffer.byteLength(line);
    try {
      // Over the zeros the reset wrote: blocks already allocated and written, so the flush is the
      // data alone, not an ext4 journal commit (an append changes the size, and that commit waits
      // for every other writer's metadata on the filesystem; measured here under load: p99 about
      // half). Synchronous: a thread-pool hop on two busy cores cost more than it saves (p90
      // 12 ms on tmpfs, where the flush itself is free), and Allocates are serialised anyway.
      if (this.journalBytes + bytes <= this.paddedBytes) writeAt(fd, Buffer.from(line), this.journalBytes);
      else {
        // Past the padding: this record also lays down the next stretch of zeros, so one
        // Allocate in ~130 pays for a size change and the rest do not.
        const extended = padded(line, this.journalBytes);
        writeAt(fd, extended, this.journalBytes);
        this.paddedBytes = this.journalBytes + extended.length;
      }
      fdatasyncSync(fd);
    } catch (err) {
      // Whatever part of the line reached the file must not sit under the next record: the next
      // record writes a snapshot and resets the journal.
      this.journalOf = undefined;
      throw err;
    }
    this.journalBytes += bytes;
  }

  /** Closes the journal (the plugin stops; tests drop an instance). */
  close(): void {
    if (this.journalFd !== undefined) closeSync(this.journalFd);
    this.journalFd = undefined;
    this.journalOf = undefined;
  }

  private openJournal(): number {
    if (this.journalFd !== undefined) return this.journalFd;
    mkdirSync(dirname(this.journalPath), { recursive: true });
    // Not O_APPEND: records are written at their offset, over the zeros (see record).
    const fd = openSync(this.journalPath, constants.O_RDWR | constants.O_CREAT, 0o600);
    // The file may have just been created: its directory entry must be durable before any record
    // in it is acknowledged. Once per process.
    const dirFd = openSync(dirname(this.journalPath), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
    this.journalFd = fd;
    return fd;
  }

  /**
   * Reads the snapshot and replays its journal; a corrupt snapshot or journal is renamed aside
   * (`.corrupt-<epoch ms>`) so it is kept for a post-mortem. Changes nothing else on disk: a torn
   * journal tail is left for the next write to replace.
   */
  async load(): Promise<CheckpointLoad> {
    // A save cut short by a crash leaves its temp file behind; the checkpoint itself is intact.
    removeOrphanTemps(this.path);
    this.journalOf = undefined;
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
    if (parsed.journal === undefined) return { kind: 'ok', allocations: parsed.allocations };

    let journal: string;
    try {
      journal = await readFile(this.journalPath, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT')
        return { kind: 'ok', allocations: parsed.allocations };
      return this.setAside(`journal unreadable: ${(err as Error).message}`);
    }
    const replay =
      journal.length > MAX_CHECKPOINT_BYTES ? { error: 'journal larger than 8 MiB' } : parseJournal(journal);
    if ('error' in replay) return this.setAside(replay.error);
    if (replay.snapshot !== parsed.journal) {
      // The journal of an earlier snapshot (a compaction died before resetting it): all it holds
      // is in this snapshot already.
      return { kind: 'ok', allocations: parsed.allocations };
    }
    const byKey = new Map(parsed.allocations.map((a) => [keyOf(a), a]));
    for (const a of replay.puts) byKey.set(keyOf(a), a);
    if (!replay.torn) {
      this.journalOf = replay.snapshot;
      this.journalBytes = Buffer.byteLength(journal.replace(/\0*$/, ''));
      this.paddedBytes = Buffer.byteLength(journal);
    }
    return { kind: 'ok', allocations: [...byKey.values()] };
  }

  /** Moves the snapshot and its journal aside; the caller rebuilds from pod annotations. */
  private async setAside(reason: string): Promise<CheckpointLoad> {
    const stamp = this.nowMs();
    const movedTo = `${this.path}.corrupt-${stamp}`;
    await rename(this.journalPath, `${this.journalPath}.corrupt-${stamp}`).catch(() => undefined);
    try {
      await rename(this.path, movedTo);
      return { kind: 'corrupt', reason, movedTo };
    } catch {
      return { kind: 'corrupt', reason, movedTo: undefined };
    }
  }
}

/** Writes all of `buf` at file offset `at` (a short write is an error, never a silent gap). */
function writeAt(fd: number, buf: Buffer, at: number): void {
  const written = writeSync(fd, buf, 0, buf.length, at);
  if (written !== buf.length)
    throw new Error(`short write to the checkpoint journal: ${written} of ${buf.length} bytes`);
}

/** Zeros laid down ahead of the records at a time (~130 records): what a reset writes. */
const JOURNAL_PAD_BYTES = 64 * 1024;

/** `text`, to be written at file offset `at`, followed by zeros up to the next multiple of the stretch. */
function padded(text: string, at: number): Buffer {
  const end = at + Buffer.byteLength(text);
  const buf = Buffer.alloc(Math.ceil(end / JOURNAL_PAD_BYTES) * JOURNAL_PAD_BYTES - at);
  buf.write(text);
  return buf;
}

type JournalReplay = { snapshot: string | undefined; puts: ContainerAllocation[]; torn: boolean };

/**
 * The journal's records. Only the end may be bad (a crash mid-append: a partial line, or a whole
 * line the disk did not get right); a bad line with good ones after it is corruption.
 */
function parseJournal(text: string): JournalReplay | { error: string } {
  // The zeros a reset wrote past the last record are free space, not a record.
  const end = text.length - (/\0*$/.exec(text)?.[0].length ?? 0);
  const lines = text.slice(0, end).split('\n');
  // After the last newline: empty, or a line cut short.
  const partial = lines.pop() !== '';
  const records: JournalRecord[] = [];
  let bad = -1;
  for (const [i, line] of lines.entries()) {
    const record = journalRecord(line);
    if (record === undefined) {
      if (bad < 0) bad = i;
      continue;
    }
    if (bad >= 0) return { error: `journal line ${bad + 1} is malformed` };
    records.push(record);
  }
  const torn = partial || bad >= 0;
  const [head, ...rest] = records;
  if (!head || !('snapshot' in head)) {
    // Nothing whole, not even the header: a reset that died mid-write.
    return records.length === 0
      ? { snapshot: undefined, puts: [], torn: true }
      : { error: 'journal has no header' };
  }
  const puts: ContainerAllocation[] = [];
  for (const r of rest) {
    if (!('put' in r)) return { error: 'journal has a second header' };
    puts.push(r.put);
  }
  return { snapshot: head.snapshot, puts, torn };
}

function journalRecord(line: string): JournalRecord | undefined {
  const cut = line.indexOf(' ');
  if (cut !== 64) return undefined;
  const json = line.slice(cut + 1);
  if (line.slice(0, cut) !== checksum(json)) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (!isObj(raw)) return undefined;
  if (typeof raw.snapshot === 'string' && /^[0-9a-f]{16}$/.test(raw.snapshot))
    return { snapshot: raw.snapshot };
  const put = validAllocation(raw.put);
  return put ? { put } : undefined;
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0 && v.length <= 256;
const isCount = (v: unknown): v is number => Number.isSafeInteger(v) && (v as number) >= 0;

function parseCheckpoint(
  text: string,
): { allocations: ContainerAllocation[]; journal: string | undefined } | { error: string } {
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
  // A snapshot from before the journal has no id; nothing extends it.
  const journal = typeof body.journal === 'string' ? body.journal : undefined;
  return { allocations, journal };
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
