// A loadwise command started as its own process, the way its Deployment or DaemonSet runs it:
// JSON log lines collected, the address taken from its "listening" line, events awaited by text.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';

export interface StartedProcess {
  child: ChildProcess;
  /** The address the process logged it listens on. */
  base: string;
  /** Every stdout line so far. */
  lines: string[];
  /** Resolves at the first log line (already seen or to come) containing `text`; rejects if the process exits first. */
  waitFor(text: string): Promise<string>;
}

/** A child process whose stdout lines are kept and can be awaited by text. */
export interface WatchedProcess {
  child: ChildProcess;
  /** Every stdout line so far. */
  lines: string[];
  /** Every stderr line so far. */
  stderr: string[];
  /** Resolves at the first stdout line (already seen or to come) containing `text`; rejects if the process exits first. */
  waitFor(text: string): Promise<string>;
}

/** Runs `node <argv>` with its output watched line by line. */
export function spawnWatched(argv: string[], env: NodeJS.ProcessEnv = process.env): WatchedProcess {
  const child = spawn(process.execPath, argv, { stdio: ['ignore', 'pipe', 'pipe'], env });
  const lines: string[] = [];
  const stderr: string[] = [];
  const waiters: { text: string; resolve: (line: string) => void }[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => stderr.push(line));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const w of waiters.filter((w) => line.includes(w.text))) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  });
  const waitFor = (text: string) =>
    new Promise<string>((resolve, reject) => {
      const seen = lines.find((l) => l.includes(text));
      if (seen) return resolve(seen);
      waiters.push({ text, resolve });
      child.once('exit', () =>
        reject(new Error(`exited before logging "${text}":\n${[...lines, ...stderr].join('\n')}`)),
      );
    });
  return { child, lines, stderr, waitFor };
}

/** Runs `node --import tsx <entry> ...args` and resolves once it logs `listeningMessage` with an `address`. */
export async function startCommand(
  entry: string,
  args: string[],
  listeningMessage: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<StartedProcess> {
  const { child, lines, waitFor } = spawnWatched(['--import', 'tsx', entry, ...args], env);
  const listening = JSON.parse(await waitFor(listeningMessage)) as { address?: string };
  if (!listening.address) {
    child.kill('SIGKILL');
    throw new Error(`"${listeningMessage}" carried no address`);
  }
  return { child, base: listening.address, lines, waitFor };
}
