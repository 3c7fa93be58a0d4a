// The controller as its Deployment runs it: a separate process, real flags, real signals, talking
// to the API-server double through a kubeconfig file.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../common/clock.ts';
import { FakeAgents } from '../test/agents/fake-agents.ts';
import { writeKubeconfig } from '../doubles/apiserver/kubeconfig.ts';
import { ApiServerDouble } from '../doubles/apiserver/server.ts';

const main = fileURLToPath(new URL('main.ts', import.meta.url));
const root = fileURLToPath(new URL('..', import.meta.url));
const run = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { encoding: 'utf8', cwd: root });

/** Runs the command to completion without blocking, so several can run side by side. */
async function runAsync(args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', main, ...args], { cwd: root });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
  });
  const [status] = (await once(child, 'exit')) as [number | null];
  return { status, stdout, stderr };
}

describe('loadwise-controller command', () => {
  let double: ApiServerDouble;
  let agents: FakeAgents;
  let dir: string;
  let kubeconfig: string;
  before(async () => {
    double = await ApiServerDouble.start();
    agents = await FakeAgents.start(systemClock);
    dir = await mkdtemp(join(tmpdir(), 'controller-main-'));
    kubeconfig = await writeKubeconfig(join(dir, 'kubeconfig'), double.url, 'controller');
  });
  after(async () => {
    await agents.close();
    await double.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('prints help for every flag and exits 0', () => {
    const r = run(['--help']);
    assert.equal(r.status, 0);
    for (const flag of [
      '--kubeconfig',
      '--policy',
      '--agent-port',
      '--agent-url',
      '--agent-service',
      '--node-selector',
      '--api-timeout',
      '--sync-period',
      '--concurrency',
      '--request-timeout',
      '--min-change',
      '--crane-compat',
      '--crane-timezone',
      '--leader-elect',
      '--lease-namespace',
      '--listen',
      '--help',
    ]) {
      assert.match(r.stdout, new RegExp(`${flag}\\b`), flag);
    }
  });

  it('rejects bad flag values and an invalid policy with a clear message and exit 1', async () => {
    const policy = join(dir, 'bad-policy.yaml');
    await writeFile(policy, 'apiVersion: loadwise.io/v1alpha1\nkind: SchedulerPolicy\nsyncPolicy: nope\n');
    const [bad, leader, invalid, zone] = await Promise.all([
      runAsync(['--min-change', '2']),
      runAsync(['--leader-elect=maybe']),
      runAsync(['--kubeconfig', kubeconfig, '--policy', policy]),
      runAsync(['--crane-compat', '--crane-timezone', 'Mars/Olympus']),
    ]);
    assert.equal(zone.status, 1);
    assert.match(zone.stderr, /--crane-timezone.*expected an IANA time zone such as Asia\/Shanghai/);
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--min-change.*fraction between 0 and 1/);
    assert.equal(leader.status, 1);
    assert.match(leader.stderr, /expected true or false/);
    assert.equal(invalid.status, 1);
    assert.match(invalid.stdout, /invalid policy file/);
  });

  it('annotates nodes, serves /metrics and /readyz, and exits 0 on SIGTERM', async () => {
    double.putObject({
      apiVersion: 'v1',
      kind: 'Node',
      metadata: { name: 'main-n1' },
      status: { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }] },
    });
    agents.setLoad('main-n1', { cpu_usage_avg_5m: 0.42 });
    const child: ChildProcess = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        main,
        '--kubeconfig',
        kubeconfig,
        '--leader-elect=false',
        '--listen',
        '127.0.0.1:0',
        '--agent-url',
        agents.urlTemplate,
        '--sync-period',
        '200ms',
        '--crane-compat',
      ],
      { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const lines: string[] = [];
    let address = '';
    try {
      const timeout = AbortSignal.timeout(15_000);
      for await (const line of createInterface({ input: child.stdout! })) {
        lines.push(line);
        const entry = JSON.parse(line) as { msg?: string; address?: string; patched?: number };
        if (entry.msg === 'controller listening' && entry.address) address = entry.address;
        if (entry.msg === 'sync done' && (entry.patched ?? 0) >= 1) break;
        if (timeout.aborted) assert.fail(`no sync: ${lines.join('\n')}`);
      }
      const node = double.getObject('nodes', 'main-n1');
      const annotations = (node?.metadata as { annotations?: Record<string, string> }).annotations ?? {};
      assert.match(annotations['loadwise.io/cpu_usage_avg_5m'] ?? '', /^0\.42000,/);
      assert.match(annotations.cpu_usage_avg_5m ?? '', /^0\.42000,/);
      const metrics = await (await fetch(`${address}/metrics`)).text();
      assert.match(metrics, /loadwise_controller_syncs_total \d+/);
      assert.match(metrics, /loadwise_controller_agent_failures_total\{reason="timeout"\} 0/);
      assert.equal((await fetch(`${address}/readyz`)).status, 200);
      assert.equal((await fetch(`${address}/healthz`)).status, 200);
      assert.equal((await fetch(`${address}/metrics`, { method: 'POST' })).status, 405);
      const started = Date.now();
      child.kill('SIGTERM');
      const [code] = (await once(child, 'exit')) as [number | null];
      assert.equal(code, 0);
      assert.ok(Date.now() - started < 5000);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
