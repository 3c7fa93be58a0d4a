// `npm start` stops as a user expects whichever way it is stopped: SIGTERM or SIGINT to npm's own
// PID (a supervisor, `kill`), to the whole process group (`kill -- -PGID`), or Ctrl-C (the terminal
// sends SIGINT to the foreground group). Every process of the group is gone within 5 s, the status
// page no longer answers, the temporary folder is removed, and one summary line says so.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { TINY_LOCAL_CLUSTER } from '../test/support/local-mode.ts';
import { freePort, waitFor } from '../test/support/wait.ts';

const STOP_WITHIN_MS = 5000;

const CONFIG = TINY_LOCAL_CLUSTER;

/** True while any process of the group is alive. */
function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}

async function startNpm(config: string) {
  // detached: its own process group, as a shell gives a foreground job.
  const child = spawn(
    'npm',
    ['start', '--', '--config', config, '--listen', '127.0.0.1:0', '--agent-port', String(await freePort())],
    { detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const lines: string[] = [];
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const ready = new Promise<{ page: string; kubeconfig: string }>((resolve, reject) => {
    let page = '';
    createInterface({ input: child.stdout }).on('line', (l) => {
      lines.push(l);
      page ||= /status page\s+(http:\/\/\S+)/.exec(l)?.[1] ?? '';
      const kubeconfig = /--kubeconfig (\S+) get/.exec(l)?.[1];
      if (page && kubeconfig) resolve({ page, kubeconfig });
    });
    child.once('exit', (code) => reject(new Error(`npm start exited (${code}) before it was up: ${stderr}`)));
  });
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return { pid: child.pid!, ready, exited, lines, stderr: () => stderr };
}

describe('npm start stops cleanly on every signal', () => {
  let dir: string;
  let config: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'loadwise-signals-'));
    config = join(dir, 'tiny.yaml');
    await writeFile(config, CONFIG);
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const cases: Array<{ what: string; signal: NodeJS.Signals; group: boolean }> = [
    { what: "SIGTERM to npm's PID", signal: 'SIGTERM', group: false },
    { what: "SIGINT to npm's PID", signal: 'SIGINT', group: false },
    { what: 'SIGTERM to the whole process group', signal: 'SIGTERM', group: true },
    { what: 'Ctrl-C (SIGINT to the foreground group)', signal: 'SIGINT', group: true },
  ];
  for (const c of cases) {
    it(`${c.what}: every process gone within 5 s, nothing left, one summary line`, async (t) => {
      const run = await startNpm(config);
      t.after(() => {
        if (groupAlive(run.pid)) process.kill(-run.pid, 'SIGKILL');
      });
      const { page, kubeconfig } = await run.ready;
      assert.equal((await fetch(`${page}api/status`)).status, 200);
      const sentAt = Date.now();
      process.kill(c.group ? -run.pid : run.pid, c.signal);
      await waitFor(() => !groupAlive(run.pid), `every process of npm's group to exit`, STOP_WITHIN_MS);
      const tookMs = Date.now() - sentAt;
      await run.exited;
      assert.ok(tookMs < STOP_WITHIN_MS, `took ${tookMs} ms`);
      t.diagnostic(`stopped in ${tookMs} ms`);
      await assert.rejects(fetch(`${page}api/status`), 'the status page still answers');
      assert.ok(!existsSync(dirname(kubeconfig)), `${dirname(kubeconfig)} was left behind`);
      const summaries = run.lines.filter((l) => l.startsWith('loadwise stopped'));
      assert.equal(summaries.length, 1, run.lines.join('\n') + run.stderr());
      assert.match(
        summaries[0]!,
        new RegExp(`^loadwise stopped \\(${c.signal}\\) after \\d+s: demo pods \\d+ submitted`),
      );
      assert.match(summaries[0]!, /temporary files removed$/);
    });
  }
});
