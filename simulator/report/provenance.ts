// What produced a simulator report: the command as it could be typed again, the inputs, and the
// commit of the code that ran (a figure from an unknown build cannot be checked).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Provenance } from './html.ts';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** A shell word: quoted only when it needs to be. */
function word(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replaceAll("'", `'\\''`)}'`;
}

export function commitOf(dir = ROOT): string {
  const git = (...args: string[]) =>
    execFileSync('git', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const head = git('rev-parse', 'HEAD');
    const dirty = git('status', '--porcelain', '--untracked-files=no') !== '';
    return dirty ? `${head} (with uncommitted changes)` : head;
  } catch {
    return 'unknown (not a git checkout, or git is not installed)';
  }
}

export function provenance(
  argv: readonly string[],
  inputs: { nodes: string; traces: readonly string[]; seeds: readonly number[] },
  now: Date = new Date(),
): Provenance {
  return {
    command: ['npm run simulate --', ...argv.map(word)].join(' '),
    nodes: inputs.nodes,
    traces: inputs.traces,
    seeds: inputs.seeds,
    commit: commitOf(),
    generatedAt: now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
  };
}
