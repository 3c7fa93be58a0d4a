// The extender with mutual TLS (--tls-client-ca): a caller without a certificate signed by the
// client CA reaches no verb (the bind attack of issue 13, refused), the kubelet's probes still
// work, and rotated certificates and CAs apply to new connections without a restart.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ManualClock } from '../common/clock.ts';
import { loadTls, type TlsFiles, TlsReloader } from '../common/tls.ts';
import { openTestCluster, type TestCluster } from '../test/apiserver/cluster.ts';
import { httpsCall, makeCa, makeLeaf, type Pem } from '../test/support/certs.ts';
import { startTestExtender } from '../test/support/extender.ts';
import type { SchedulerApp } from './app.ts';

const POLICY = `
apiVersion: loadwise.io/v1alpha1
kind: SchedulerPolicy
syncPolicy: []
predicate: []
priority: []
hotValue: []
`;

describe('extender with mutual TLS', () => {
  let cluster: TestCluster;
  let dir: string;
  let app: SchedulerApp;
  let base = '';
  let serverCa: Pem;
  let clientCa: Pem;
  let kubeScheduler: Pem;
  let files: TlsFiles;
  let reloader: TlsReloader;

  /** One request on a fresh connection, as `client` (or as nobody). */
  const call = (path: string, client?: Pem, body?: unknown) =>
    httpsCall(`${base}${path}`, serverCa.cert, client, body);

  const bindAttack = { PodName: 'victim', PodNamespace: 'default', PodUID: '', Node: 'any-node' };

  before(async () => {
    cluster = await openTestCluster();
    dir = await mkdtemp(join(tmpdir(), 'loadwise-tls-'));
    serverCa = makeCa(dir, 'server-ca');
    clientCa = makeCa(dir, 'client-ca');
    kubeScheduler = makeLeaf(dir, clientCa, 'kube-scheduler');
    const serving = makeLeaf(dir, serverCa, 'extender-1');
    files = { cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key'), clientCa: join(dir, 'client-ca.pem') };
    await writeFile(files.cert, serving.cert);
    await writeFile(files.key, serving.key);
    await writeFile(files.clientCa!, clientCa.cert);
    const https = await loadTls(files);
    let address: string;
    ({ app, base: address } = await startTestExtender(cluster, POLICY, new ManualClock(Date.now()), {
      https,
    }));
    base = address.replace(/^http:/, 'https:');
    reloader = new TlsReloader({
      files,
      current: https,
      apply: (m) => app.setTls(m),
      onReload: () => {},
    });
  });
  after(async () => {
    await app.stop();
    await cluster.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses every verb to a caller without a client certificate, and says why', async () => {
    const bind = await call('/bind', undefined, bindAttack);
    assert.equal(bind.status, 401);
    assert.deepEqual(bind.body, {
      error: 'Unauthorized',
      message: 'a client certificate signed by the --tls-client-ca is required',
    });
    for (const path of ['/filter', '/prioritize']) {
      assert.equal((await call(path, undefined, { Pod: { metadata: { name: 'p' } } })).status, 401);
    }
    assert.equal((await call('/metrics')).status, 401);
  });

  it('refuses a caller whose certificate another CA signed', async () => {
    const impostor = makeLeaf(dir, makeCa(dir, 'other-ca'), 'impostor');
    const bind = await call('/bind', impostor, bindAttack);
    assert.equal(bind.status, 403);
    assert.match(String(bind.body.message), /the client certificate is not trusted: /);
  });

  it('serves kube-scheduler (a certificate the client CA signed), and the probes to anyone', async () => {
    const filtered = await call('/filter', kubeScheduler, {
      Pod: { metadata: { name: 'p', namespace: 'default' } },
      NodeNames: ['n1'],
    });
    assert.equal(filtered.status, 200);
    assert.deepEqual(filtered.body.NodeNames, []);
    assert.equal((await call('/metrics', kubeScheduler)).status, 200);
    assert.deepEqual((await call('/healthz')).body, { status: 'ok' });
    assert.deepEqual((await call('/readyz')).body, { status: 'ready' });
  });

  it('applies a rotated serving certificate and client CA to new connections', async () => {
    assert.equal((await call('/healthz')).serverCn, 'extender-1');
    const next = makeLeaf(dir, serverCa, 'extender-2');
    await writeFile(files.cert, next.cert);
    await writeFile(files.key, next.key);
    assert.deepEqual(await reloader.check(), { result: 'ok' });
    assert.equal((await call('/healthz')).serverCn, 'extender-2');

    // A new client CA: kube-scheduler's old certificate no longer opens the verbs, the new one does.
    const nextCa = makeCa(dir, 'client-ca-2');
    await writeFile(files.clientCa!, nextCa.cert);
    assert.deepEqual(await reloader.check(), { result: 'ok' });
    assert.equal((await call('/metrics', kubeScheduler)).status, 403);
    assert.equal((await call('/metrics', makeLeaf(dir, nextCa, 'kube-scheduler-2'))).status, 200);
    assert.deepEqual(await reloader.check(), { result: 'unchanged' });
  });

  it('keeps the last good certificate when the new files are unusable, reporting it once', async () => {
    const before = (await call('/healthz')).serverCn;
    const stray = makeLeaf(dir, serverCa, 'stray');
    await writeFile(files.key, stray.key); // a key that does not match the certificate
    const reload = await reloader.check();
    assert.equal(reload.result, 'invalid');
    assert.match(reload.result === 'invalid' ? reload.error : '', /unusable: .*key values mismatch/);
    assert.deepEqual(await reloader.check(), { result: 'unchanged' });
    assert.equal((await call('/healthz')).serverCn, before);
  });
});
