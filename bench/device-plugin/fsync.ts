// The disk's own floor for one durable journal record, by way of writing it: what any Allocate
// that keeps its fsync must pay at least. Each way runs on its own file in the same directory,
// and the ways take turns sample by sample (a, b, c, d, a, b, …), so a burst of load from
// elsewhere lands on all of them alike. Runs alone: `npx tsx bench/device-plugin/fsync.ts [dir] [rounds]`,
// and inside `npm run bench -- device-plugin`.
import { closeSync, constants, fdatasyncSync, openSync, promises as fsp, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { type LatencySummary, summarise } from '../stats.ts';

/** A journal line's size (one container's allocation as JSON plus its sha256). */
const RECORD_BYTES = 480;
/** Zero padding laid down ahead of the records, as the checkpoint's journal does. */
const PAD_BYTES = 256 * 1024;

export interface FsyncWay {
  name: string;
  wall: LatencySummary;
  /** CPU of the process per record (ms, user + system): the syscalls' own cost, not the wait. */
  cpu: LatencySummary;
}

interface Way {
  name: string;
  open(path: string): Promise<void>;
  write(record: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** Appends that grow the file: every fdatasync must also commit the new size (ext4 journal). */
function appendWay(): Way {
  let fd = -1;
  return {
    name: 'append (file grows) + fdatasync',
    open: async (path) => {
      fd = openSync(path, 'a', 0o600);
    },
    write: async (record) => {
      writeSync(fd, record);
      fdatasyncSync(fd);
    },
    close: async () => closeSync(fd),
  };
}

/**
 * Records written over zeros laid down (and flushed) beforehand: blocks allocated and written, the
 * size unchanged, so fdatasync needs only the data. `flags` adds O_DSYNC (write and flush in one).
 */
function overwriteWay(name: string, dsync: boolean): Way {
  let fd = -1;
  let at = 0;
  return {
    name,
    open: async (path) => {
      const pad = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
      writeSync(pad, Buffer.alloc(PAD_BYTES), 0, PAD_BYTES, 0);
      fdatasyncSync(pad);
      closeSync(pad);
      fd = openSync(path, constants.O_RDWR | (dsync ? constants.O_DSYNC : 0));
    },
    write: async (record) => {
      if (at + record.length > PAD_BYTES) at = 0;
      writeSync(fd, record, 0, record.length, at);
      if (!dsync) fdatasyncSync(fd);
      at += record.length;
    },
    close: async () => closeSync(fd),
  };
}

/** The same overwrite through fs.promises: each call a hop to libuv's thread pool and back. */
function asyncOverwriteWay(): Way {
  let handle: fsp.FileHandle | undefined;
  let at = 0;
  return {
    name: 'overwrite zeros + fdatasync, async (thread pool)',
    open: async (path) => {
      await fsp.writeFile(path, Buffer.alloc(PAD_BYTES), { mode: 0o600 });
      handle = await fsp.open(path, 'r+');
      await handle.datasync();
    },
    write: async (record) => {
      if (at + record.length > PAD_BYTES) at = 0;
      await handle!.write(record, 0, record.length, at);
      await handle!.datasync();
      at += record.length;
    },
    close: async () => handle?.close(),
  };
}

/** Times `rounds` records per way in `dir`, the ways interleaved; removes its files after. */
export async function fsyncFloor(
  dir: string,
  rounds: number,
  between?: () => Promise<void>,
): Promise<FsyncWay[]> {
  const ways = [
    appendWay(),
    overwriteWay('overwrite zeros + fdatasync (sync)', false),
    overwriteWay('overwrite zeros, O_DSYNC write (sync)', true),
    asyncOverwriteWay(),
  ];
  const paths = ways.map((_, i) => join(dir, `bench-fsync-${i}`));
  const record = Buffer.from(`${'x'.repeat(RECORD_BYTES - 1)}\n`);
  const wall = ways.map((): number[] => []);
  const cpu = ways.map((): number[] => []);
  try {
    for (const [i, w] of ways.entries()) await w.open(paths[i]!);
    for (let r = 0; r < rounds; r++) {
      for (const [i, w] of ways.entries()) {
        const c = process.cpuUsage();
        const s = performance.now();
        await w.write(record);
        wall[i]!.push(performance.now() - s);
        const used = process.cpuUsage(c);
        cpu[i]!.push((used.user + used.system) / 1000);
        if (between) await between();
      }
    }
  } finally {
    for (const w of ways) await w.close().catch(() => undefined);
    for (const p of paths) rmSync(p, { force: true });
  }
  const sum = (xs: number[]) =>
    summarise(
      xs,
      xs.reduce((a, b) => a + b, 0),
    );
  return ways.map((w, i) => ({ name: w.name, wall: sum(wall[i]!), cpu: sum(cpu[i]!) }));
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const dir = process.argv[2] ?? '/tmp';
  const rounds = Number(process.argv[3] ?? 300);
  // Paced like kubelet's Allocates: a few ms apart, not back to back.
  const pause = () => new Promise<void>((resolve) => setTimeout(resolve, 2));
  for (const w of await fsyncFloor(dir, rounds, pause)) {
    const f = (n: number) => n.toFixed(3);
    console.log(
      `${w.name.padEnd(50)} n ${w.wall.n}  p50 ${f(w.wall.p50)}  p99 ${f(w.wall.p99)}  max ${f(w.wall.max)} ms` +
        `  cpu p50 ${f(w.cpu.p50)} p99 ${f(w.cpu.p99)} ms`,
    );
  }
}
