// The agent as the DaemonSet runs it: a separate process, real flags, real signals.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { openTestCluster } from '../test/apiserver/cluster.ts';
import { TestKubelet, waitForEvent } from '../doubles/kubelet/kubelet.ts';
import { FakeProc } from '../doubles/fake-proc.ts';
import { startCommand } from '../test/support/process.ts';

const main = fileURLToPath(new URL('main.ts', import.meta.url));
const node = (args: string[]) => [process.execPath, ['--import', 'tsx', main, ...args]] as const;

/** Starts the agent and resolves with its address from the "listening" log line. */
function startAgent(args: string[]) {
  return startCommand(main, args, 'node agent listening', { ...process.env, NODE_NAME: 'from-env' });
}

describe('loadwise-agent command', () => {
  const proc = new FakeProc();
  after(() => proc.cleanup());

  it('prints help for every flag and exits 0', () => {
    const [cmd, argv] = node(['--help']);
    const r = spawnSync(cmd, argv, { encoding: 'utf8' });
    assert.equal(r.status, 0);
    for (const flag of [
      '--listen',
      '--proc-path',
      '--sample-interval',
      '--node-name',
      '--log-level',
      '--enforce-gpu-memory',
      '--gpu-context-allowance',
      '--gpu-watchdog-interval',
      '--compat',
      '--web.listen-address',
      '--resource-names',
      '--help',
    ]) {
      assert.match(r.stdout, new RegExp(flag));
    }
  });

  it('rejects a bad flag value with a clear message and exit 1', () => {
    const [cmd, argv] = node(['--sample-interval', '0.5']);
    const r = spawnSync(cmd, argv, { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /--sample-interval.*invalid duration "0.5"/);
  });

  it('refuses a GPU setup that cannot work, saying why', () => {
    const [cmd, argv] = node(['--gpu-provider', 'simulated', '--listen', '127.0.0.1:0']);
    const r = spawnSync(cmd, argv, { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stdout, /--gpu-provider simulated needs --gpu-inventory FILE/);
    const [cmd2, argv2] = node(['--gpu-provider', 'cuda']);
    const r2 = spawnSync(cmd2, argv2, { encoding: 'utf8' });
    assert.equal(r2.status, 1);
    assert.match(r2.stderr, /Allowed choices are auto, nvidia-smi, simulated, none/);
    const [cmd3, argv3] = node(['--enforce-gpu-memory', 'terminate']);
    const r3 = spawnSync(cmd3, argv3, { encoding: 'utf8' });
    assert.equal(r3.status, 1);
    assert.match(r3.stderr, /Allowed choices are off, report, kill/);
    const [cmd4, argv4] = node(['--gpu-watchdog-interval', '100ms']);
    const r4 = spawnSync(cmd4, argv4, { encoding: 'utf8' });
    assert.equal(r4.status, 1);
    assert.match(r4.stderr, /--gpu-watchdog-interval.*must be between 1s and 10m, got "100ms"/);
  });

  it('serves real figures from --proc-path, names the node from NODE_NAME, and exits 0 on SIGTERM within 2 s', async () => {
    const { child, base } = await startAgent([
      '--listen',
      '127.0.0.1:0',
      '--proc-path',
      proc.dir,
      '--sample-interval',
      '100ms',
    ]);
    try {
      // The first sample is taken at start; wait for the second (CPU needs two readings).
      const deadline = Date.now() + 10_000;
      let body: { node?: string; windows?: Record<string, number> } = {};
      while (Date.now() < deadline) {
        proc.runFor(100, 50);
        const res = await fetch(`${base}/statistics`);
        if (res.status === 200) {
          body = (await res.json()) as typeof body;
          if (body.windows?.cpu_usage_active !== undefined) break;
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(body.node, 'from-env');
      assert.equal(body.windows?.mem_usage_active, 0.25);
      assert.ok(body.windows?.cpu_usage_active !== undefined);

      // Keep a connection open, as a scraper would, to prove it does not hold the shutdown.
      await fetch(`${base}/metrics`, { keepalive: true });
      const started = performance.now();
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
      assert.ok(performance.now() - started < 2000, `took ${performance.now() - started} ms`);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it("takes node-metrics' arguments: --web.listen-address as --listen, --compat node-metrics", async () => {
    const [cmd, argv] = node(['--listen', '127.0.0.1:0', '--web.listen-address', '127.0.0.1:0']);
    const both = spawnSync(cmd, argv, { encoding: 'utf8' });
    assert.equal(both.status, 1);
    assert.match(both.stderr, /--listen and --web.listen-address are the same setting/);
    const [cmd3, argv3] = node(['--resource-names', 'gpu-manager', '--vgpu-memory-unit', '1024']);
    const unit = spawnSync(cmd3, argv3, { encoding: 'utf8' });
    assert.equal(unit.status, 1);
    assert.match(unit.stderr, /vcuda-memory in 256 MiB units; --vgpu-memory-unit must stay 256/);
    const [cmd2, argv2] = node(['--compat', 'crane']);
    const bad = spawnSync(cmd2, argv2, { encoding: 'utf8' });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /Allowed choices are none, node-metrics/);

    const { child, base } = await startAgent([
      '--web.listen-address=127.0.0.1:0',
      '--compat',
      'node-metrics',
      '--proc-path',
      proc.dir,
      '--sample-interval',
      '100ms',
    ]);
    try {
      let body: Record<string, number> = {};
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && body.cpu_usage_active === undefined) {
        proc.runFor(100, 50);
        const res = await fetch(`${base}/statistics`);
        if (res.status === 200) body = (await res.json()) as typeof body;
        if (body.cpu_usage_active === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(body.mem_usage_active, 25, 'percent, as node-metrics serves it');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('serves the device plugin for simulated GPUs: registers both resources with kubelet, units per GPU', async () => {
    const dir = mkdtempSync('/tmp/lw-agent-');
    const kubelet = await TestKubelet.start(dir);
    const cluster = await openTestCluster();
    const registered = ['core', 'memory'].map((kind) =>
      waitForEvent(kubelet, 'registered', (resource) => resource === `loadwise.io/vgpu-${kind}`, 15_000),
    );
    const { child } = await startAgent([
      '--listen',
      '127.0.0.1:0',
      '--proc-path',
      proc.dir,
      '--gpu-provider',
      'simulated',
      '--gpu-inventory',
      fileURLToPath(new URL('../configs/gpus.sample.yaml', import.meta.url)),
      '--device-plugin',
      'on',
      '--device-plugin-path',
      dir,
      '--checkpoint-path',
      join(dir, 'ckpt'),
      '--vgpu-config-root',
      join(dir, 'cfg'),
      '--vgpu-library-dir',
      join(dir, 'lib'),
      '--kubeconfig',
      await cluster.kubeconfigFile(),
    ]);
    try {
      await Promise.all(registered);
      // The inventory reaches the plugin with the first GPU reading: 6 GPUs, 4 × 80 GiB + 2 × 15 GiB.
      if (kubelet.healthyCount('loadwise.io/vgpu-core') === 0) {
        await waitForEvent(
          kubelet,
          'devices',
          (resource, devices) => resource === 'loadwise.io/vgpu-core' && devices.length > 0,
          15_000,
        );
      }
      assert.equal(kubelet.healthyCount('loadwise.io/vgpu-core'), 600);
      if (kubelet.healthyCount('loadwise.io/vgpu-memory') === 0) {
        await waitForEvent(
          kubelet,
          'devices',
          (resource, devices) => resource === 'loadwise.io/vgpu-memory' && devices.length > 0,
          15_000,
        );
      }
      assert.equal(kubelet.healthyCount('loadwise.io/vgpu-memory'), (4 * 81920 + 2 * 15360) / 256);
      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
    } finally {
      child.kill('SIGKILL');
      await kubelet.stop();
      await cluster.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps running when /proc is missing, stays unready, and says why', async () => {
    const { child, base, lines } = await startAgent([
      '--listen',
      '127.0.0.1:0',
      '--proc-path',
      '/nonexistent',
      '--sample-interval',
      '100ms',
    ]);
    try {
      assert.ok(lines.some((l) => l.includes('cannot read <proc-path>/stat')));
      assert.equal((await fetch(`${base}/readyz`)).status, 503);
      assert.equal((await fetch(`${base}/healthz`)).status, 200);
      child.kill('SIGINT');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
