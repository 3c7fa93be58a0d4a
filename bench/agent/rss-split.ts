// Where a process's RSS lies, from /proc/PID/smaps_rollup: pages of files (the node binary's code
// and data, shared libraries; shared with every node process on the machine) apart from anonymous
// memory, and of that the V8 heap apart from the rest (malloc, thread stacks, node's own buffers).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

export interface RssSplit {
  rss: number;
  /** File-backed pages: mostly the node binary's own code. */
  files: number;
  anonymous: number;
  /** Of the anonymous memory: the V8 heap's committed pages (process.memoryUsage().heapTotal). */
  v8Heap: number;
}

/** Parses smaps_rollup text; `heapTotal` from the same moment's process.memoryUsage(). */
export function rssSplit(rollup: string, heapTotal: number): RssSplit {
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1]) * 1024;
  const rss = kb('Rss');
  const anonymous = kb('Anonymous');
  return { rss, files: rss - anonymous, anonymous, v8Heap: heapTotal };
}

/** The split of a running process (read from outside, so it costs the process nothing). */
export function rssSplitOf(pid: number, heapTotal: number): RssSplit {
  return rssSplit(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'), heapTotal);
}

/** The split of a bare node process with `args`, idle 200 ms after start (as bareNodeRss measures). */
export function bareNodeSplit(args: string[]): RssSplit {
  const script =
    "setTimeout(() => console.log(JSON.stringify({ h: process.memoryUsage().heapTotal, r: require('fs').readFileSync('/proc/self/smaps_rollup', 'utf8') })), 200)";
  const out = spawnSync(process.execPath, [...args, '-e', script], { encoding: 'utf8' });
  const { h, r } = JSON.parse(out.stdout) as { h: number; r: string };
  return rssSplit(r, h);
}
