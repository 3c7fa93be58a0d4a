// The extender as its Deployment runs it: a separate process with real flags, a policy file and a
// kubeconfig pointing at the API-server double.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { copyFile, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { openTestCluster, type TestCluster } from '../test/apiserver/cluster.ts';
import { writeKubeconfig } from '../doubles/apiserver/kubeconfig.ts';
import { httpsCall, makeCa, makeLeaf, type Pem } from '../test/support/certs.ts';
// @ts-expect-error: a plain JavaScript module without type declarations
import { bundle } from '../hack/build.mjs';
import { spawnWatched, startCommand } from '../test/support/process.ts';
import { freePort } from '../test/support/wait.ts';

const main = fileURLToPath(new URL('main.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BUNDLE_DIR = `dist/test-scheduler-${process.pid}`;
const policyExample = fileURLToPath(new URL('../configs/policy.yaml', import.meta.url));
const argv = (args: string[]) => ['--import', 'tsx', main, ...args];

/** Starts the extender; resolves once it logs that it listens. */
function start(args: string[]) {
  return startCommand(main, args, 'scheduler extender listening');
}

describe('loadwise-scheduler command', () => {
  let cluster: TestCluster;
  let dir: string;
  before(async () => {
    cluster = await openTestCluster();
    dir = await mkdtemp(join(tmpdir(), 'loadwise-sched-'));
  });
  after(async () => {
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
    await rm(join(ROOT, BUNDLE_DIR), { recursive: true, force: true });
  });

  it('documents every flag', () => {
    const r = spawnSync(process.execPath, argv(['--help']), { encoding: 'utf8' });
    assert.equal(r.status, 0);
    for (const flag of [
      '--listen',
      '--policy',
      '--kubeconfig',
      '--tls-cert',
      '--tls-key',
      '--tls-client-ca',
      '--tls-poll-interval',
      '--insecure-listen',
      '--scheduler-name',
      '--crane-keys',
      '--crane-timezone',
      '--gpu-policy',
      '--help',
    ]) {
      assert.match(r.stdout, new RegExp(flag));
    }
  });

  it("reads crane's times in TZ's zone by default, Asia/Shanghai without TZ, and refuses a zone that does not exist", () => {
    const help = (env: NodeJS.ProcessEnv) =>
      spawnSync(process.execPath, argv(['--help']), { encoding: 'utf8', env }).stdout.replace(/\s+/g, ' ');
    const withoutTz = { ...process.env };
    delete withoutTz.TZ;
    assert.match(help(withoutTz), /--crane-timezone <zone> .*\(default: TZ, then Asia\/Shanghai\)/);
    const bad = spawnSync(process.execPath, argv(['--crane-keys']), {
      encoding: 'utf8',
      env: { ...process.env, TZ: 'Mars/Olympus' },
    });
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /--crane-timezone \(default from TZ\).*"Mars\/Olympus"/);
  });

  it('offers fgd, binpack and spread GPU policies, fgd by default, and refuses others', () => {
    const help = spawnSync(process.execPath, argv(['--help']), { encoding: 'utf8' });
    const text = help.stdout.replace(/\s+/g, ' ');
    assert.match(
      text,
      /--gpu-policy <policy> .*fragmentation.*\(choices: "fgd", "binpack", "spread", default: "fgd"\)/,
    );
    const bad = spawnSync(process.execPath, argv(['--gpu-policy', 'firstfit']), { encoding: 'utf8' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.stderr, /'firstfit' is invalid\. Allowed choices are fgd, binpack, spread/);
  });

  it('listens on loopback by default, and refuses another address without mutual TLS', async () => {
    const help = spawnSync(process.execPath, argv(['--help']), { encoding: 'utf8' });
    assert.match(help.stdout.replace(/\s+/g, ' '), /default: 127\.0\.0\.1:8888/);
    assert.match(
      help.stdout.replace(/\s+/g, ' '),
      /--scheduler-name <name> .*repeat .*default: loadwise-scheduler/,
    );
    const open = spawnSync(process.execPath, argv(['--listen', '0.0.0.0:0']), { encoding: 'utf8' });
    assert.equal(open.status, 1);
    assert.match(
      open.stderr,
      /--listen 0\.0\.0\.0 is reachable from other machines, and whoever reaches \/bind binds pods/,
    );
    const caOnly = spawnSync(process.execPath, argv(['--tls-client-ca', 'ca.pem']), { encoding: 'utf8' });
    assert.equal(caOnly.status, 1);
    assert.match(caOnly.stderr, /--tls-client-ca needs --tls-cert and --tls-key/);
    const missing = spawnSync(
      process.execPath,
      argv([
        '--listen',
        '0.0.0.0:0',
        '--tls-cert',
        join(dir, 'no.crt'),
        '--tls-key',
        join(dir, 'no.key'),
        '--tls-client-ca',
        join(dir, 'no.pem'),
      ]),
      { encoding: 'utf8' },
    );
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /TLS certificate .*no\.crt: cannot read/);
  });

  it('stays alive (/healthz 200) but not ready (/readyz 503) while the API server is unreachable', async () => {
    const kubeconfig = join(dir, 'dead.kubeconfig');
    await writeKubeconfig(kubeconfig, `http://127.0.0.1:${await freePort()}`);
    const { child, base } = await start([
      '--listen',
      '127.0.0.1:0',
      '--policy',
      policyExample,
      '--kubeconfig',
      kubeconfig,
    ]);
    try {
      assert.deepEqual(await (await fetch(`${base}/healthz`)).json(), { status: 'ok' });
      const ready = await fetch(`${base}/readyz`);
      assert.equal(ready.status, 503);
      assert.deepEqual(await ready.json(), {
        error: 'Service Unavailable',
        message: 'the Node and Pod caches have not synced with the API server yet',
      });
    } finally {
      child.kill('SIGKILL');
    }
  });

  /** The shipped bundle (dist/scheduler.mjs as `npm run build` makes it), started as the image starts it. */
  async function startBundled(args: string[]) {
    const built = (await bundle('scheduler/main.ts', `${BUNDLE_DIR}/scheduler.mjs`)) as string;
    const { child, lines, waitFor } = spawnWatched([join(ROOT, built), ...args]);
    const listening = JSON.parse(await waitFor('scheduler extender listening')) as { address: string };
    return { child, base: listening.address, lines, waitFor };
  }

  for (const [how, launch] of [
    ['tsx', start],
    // The bundle loads https and tls only when first used (hack/build.mjs, LAZY_BUILTINS): TLS
    // must work through that stand-in exactly as through the module.
    ['the bundle', startBundled],
  ] as const)
    it(`serves mutual TLS on a public address and picks up a rotated certificate without a restart (${how})`, async () => {
      const serverCa = makeCa(dir, 'main-server-ca');
      const clientCa = makeCa(dir, 'main-client-ca');
      // Laid out as the kubelet mounts a Secret: files reached through a `..data` symlink that an
      // update swaps in one rename, so the certificate and key always change together.
      const secret = join(dir, `main-tls-${how.replace(' ', '-')}`);
      const version = async (name: string, pem: Pem) => {
        await mkdir(join(secret, name), { recursive: true });
        await writeFile(join(secret, name, 'tls.crt'), pem.cert);
        await writeFile(join(secret, name, 'tls.key'), pem.key);
        await symlink(name, join(secret, '..data_tmp'));
        await rename(join(secret, '..data_tmp'), join(secret, '..data'));
      };
      await version('v1', makeLeaf(dir, serverCa, 'main-extender-1'));
      const cert = join(secret, 'tls.crt');
      const key = join(secret, 'tls.key');
      await symlink('..data/tls.crt', cert);
      await symlink('..data/tls.key', key);
      const { child, base, waitFor } = await launch([
        '--listen',
        '0.0.0.0:0',
        '--tls-cert',
        cert,
        '--tls-key',
        key,
        '--tls-client-ca',
        clientCa.certFile,
        '--tls-poll-interval',
        '100ms',
        '--policy',
        policyExample,
        '--kubeconfig',
        await cluster.kubeconfigFile(),
      ]);
      try {
        const url = (path: string) => `https://127.0.0.1:${new URL(base).port}${path}`;
        const attack = { PodName: 'victim', PodNamespace: 'default', PodUID: '', Node: 'any-node' };
        assert.equal((await httpsCall(url('/bind'), serverCa.cert, undefined, attack)).status, 401);
        const scheduler = makeLeaf(dir, clientCa, 'main-kube-scheduler');
        const bound = await httpsCall(url('/bind'), serverCa.cert, scheduler, attack);
        assert.equal(bound.status, 200);
        assert.match(String(bound.body.Error), /refused: PodUID is empty/);
        assert.equal((await httpsCall(url('/healthz'), serverCa.cert)).serverCn, 'main-extender-1');

        const reloaded = waitFor('TLS files reloaded');
        await version('v2', makeLeaf(dir, serverCa, 'main-extender-2'));
        await reloaded;
        assert.equal((await httpsCall(url('/healthz'), serverCa.cert)).serverCn, 'main-extender-2');
      } finally {
        child.kill('SIGKILL');
      }
    });

  it('refuses to start on an invalid policy, saying why', async () => {
    const bad = join(dir, 'bad.yaml');
    await writeFile(
      bad,
      'apiVersion: loadwise.io/v1alpha1\nkind: SchedulerPolicy\nsyncPolicy: []\npredicate:\n  - {name: cpu_usage_avg_5m, maxLimitPercent: 65}\n',
    );
    const r = spawnSync(
      process.execPath,
      argv(['--policy', bad, '--kubeconfig', await cluster.kubeconfigFile()]),
      {
        encoding: 'utf8',
      },
    );
    assert.equal(r.status, 1);
    assert.match(r.stdout, /above 1; thresholds are fractions/);
  });

  it('serves the verbs, reloads the policy file when it changes, and exits 0 on SIGTERM', async () => {
    const policy = join(dir, 'policy.yaml');
    await copyFile(policyExample, policy);
    const { child, base, waitFor } = await start([
      '--listen',
      '127.0.0.1:0',
      '--policy',
      policy,
      '--kubeconfig',
      await cluster.kubeconfigFile(),
      '--policy-poll-interval',
      '100ms',
    ]);
    try {
      const res = await fetch(`${base}/filter`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ Pod: { metadata: { name: 'p', namespace: 'default' } }, NodeNames: ['n1'] }),
      });
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as { NodeNames: string[] }).NodeNames, []);

      // An invalid edit is logged and counted; the process keeps serving. Written as a ConfigMap
      // update lands, in one atomic swap, so the poll never sees a half-written file.
      await writeFile(`${policy}.new`, 'kind: [');
      await rename(`${policy}.new`, policy);
      assert.match(await waitFor('policy rejected'), /not valid YAML/);
      assert.equal((await fetch(`${base}/healthz`)).status, 200);

      child.kill('SIGTERM');
      const [code] = await once(child, 'exit');
      assert.equal(code, 0);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
