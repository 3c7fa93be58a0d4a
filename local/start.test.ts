// `npm start` as the README shows it: it prints where to look, serves the status page, and stops
// cleanly on Ctrl-C; a broken config is one clear line and exit code 1.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createInterface } from 'node:readline';
import { TINY_LOCAL_CLUSTER } from '../test/support/local-mode.ts';
import { freePort } from '../test/support/wait.ts';

interface Run {
  done: Promise<{ code: number | null; stdout: string; stderr: string }>;
  /** Resolves with the first stdout line matching `pattern` (undefined if the process ends first). */
  line: (pattern: RegExp) => Promise<RegExpExecArray | undefined>;
  kill: (signal: NodeJS.Signals) => void;
}

function run(args: string[]): Run {
  const child = spawn(process.execPath, ['--import', 'tsx', 'local/start.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const seen: string[] = [];
  const waiters: { pattern: RegExp; resolve: (m: RegExpExecArray | undefined) => void }[] = [];
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (process.env.DBG) console.error('ERR', d.toString());
  });
  createInterface({ input: child.stdout }).on('line', (l) => {
    stdout += l + '\n';
    if (process.env.DBG) console.error('LINE', l);
    seen.push(l);
    for (const w of [...waiters]) {
      const m = w.pattern.exec(l);
      if (!m) continue;
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(m);
    }
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    child.on('close', (code) => {
      for (const w of waiters.splice(0)) w.resolve(undefined);
      resolve({ code, stdout, stderr });
    }),
  );
  const line = (pattern: RegExp) =>
    new Promise<RegExpExecArray | undefined>((resolve) => {
      for (const l of seen) {
        const m = pattern.exec(l);
        if (m) return resolve(m);
      }
      if (child.exitCode !== null) return resolve(undefined);
      waiters.push({ pattern, resolve });
    });
  return { done, line, kill: (s) => child.kill(s) };
}

const CONFIG = TINY_LOCAL_CLUSTER;

describe('npm start', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'loadwise-start-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('--help documents every flag', async () => {
    const { code, stdout } = await run(['--help']).done;
    assert.equal(code, 0);
    for (const flag of [
      '--config',
      '--policy',
      '--listen',
      '--agent-port',
      '--extender-port',
      '--duration',
      '--kubeconfig',
      '--log-level',
    ]) {
      assert.match(stdout, new RegExp(flag));
    }
  });

  it('a broken config file is one clear line and exit code 1', async () => {
    const path = join(dir, 'broken.yaml');
    await writeFile(path, CONFIG.replace('maxPods: 5', 'maxPods: many'));
    const { code, stderr } = await run(['--config', path]).done;
    assert.equal(code, 1);
    assert.match(stderr, /broken\.yaml: \/workload\/maxPods must be integer/);
  });

  it('--kubeconfig names a file that is not there: one clear line and exit code 1, nothing started', async () => {
    const { code, stdout, stderr } = await run(['--kubeconfig', join(dir, 'missing.kubeconfig')]).done;
    assert.equal(code, 1);
    assert.match(stderr, /--kubeconfig .*missing\.kubeconfig: no such file/);
    assert.doesNotMatch(stdout, /started/);
  });

  it('prints the status page URL, serves it, and stops cleanly on Ctrl-C', async () => {
    const path = join(dir, 'tiny.yaml');
    await writeFile(path, CONFIG);
    const started = run([
      '--config',
      path,
      '--listen',
      '127.0.0.1:0',
      '--agent-port',
      String(await freePort()),
    ]);
    const url = (await started.line(/status page\s+(http:\/\/\S+)/))?.[1];
    if (!url) assert.fail(`no status page URL printed: ${(await started.done).stderr}`);
    const res = await fetch(`${url}api/status`);
    assert.equal(res.status, 200);
    const body = (await res.json()) as { nodes: { name: string }[] };
    assert.deepEqual(
      body.nodes.map((n) => n.name),
      ['sim-1'],
    );
    started.kill('SIGINT');
    const { code } = await started.done;
    assert.equal(code, 0);
  });

  it('without --listen the page is on 127.0.0.1:8080 only: another machine on the network is refused', async (t) => {
    const path = join(dir, 'tiny.yaml');
    await writeFile(path, CONFIG);
    const started = run(['--config', path, '--agent-port', String(await freePort())]);
    t.after(() => started.kill('SIGKILL'));
    const url = (await started.line(/status page\s+(http:\/\/\S+)/))?.[1];
    if (!url) {
      const { stderr } = await started.done;
      if (/127\.0\.0\.1:8080: .*EADDRINUSE/.test(stderr)) return t.skip('port 8080 is taken on this machine');
      assert.fail(`no status page URL printed: ${stderr}`);
    }
    assert.equal(url, 'http://127.0.0.1:8080/');
    assert.equal((await fetch(`${url}api/status`)).status, 200);
    // The attack: reach the page through this machine's network address, as a neighbour would.
    const external = Object.values(networkInterfaces())
      .flat()
      .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    if (external) {
      await assert.rejects(
        fetch(`http://${external}:8080/api/status`),
        (err: Error & { cause?: { code?: string } }) => {
          assert.equal(err.cause?.code, 'ECONNREFUSED');
          return true;
        },
      );
    } else t.diagnostic('no non-loopback IPv4 address here: only the bound address was checked');
    started.kill('SIGTERM');
    assert.equal((await started.done).code, 0);
  });
});
