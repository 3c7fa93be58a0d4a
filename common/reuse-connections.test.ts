// reuseConnections over a real socket: requests share one kept-alive connection, and used on a
// view of a config (Object.create, as the device plugin does) it leaves the config itself alone.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { reuseConnections } from './kube.ts';

describe('reuseConnections', () => {
  let server: Server;
  let connections = 0;
  let url = '';

  before(async () => {
    server = createServer((req, res) => {
      const name = req.url?.split('/').pop() ?? '';
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'ns' } }));
    });
    server.keepAliveTimeout = 5_000;
    server.on('connection', () => connections++);
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  function config(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: url, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    return kc;
  }

  it('sends sequential requests over one connection, and a view leaves the config as it was', async () => {
    const kc = config();
    const core = reuseConnections(Object.create(kc) as KubeConfig).makeApiClient(CoreV1Api);
    const before = connections;
    for (let i = 0; i < 5; i++) {
      const pod = await core.readNamespacedPod({ name: `p${i}`, namespace: 'ns' });
      assert.equal(pod.metadata?.name, `p${i}`);
    }
    assert.equal(connections - before, 1, 'one connection for five requests');
    assert.ok(!Object.hasOwn(kc, 'applySecurityAuthentication'), 'the config itself is not wrapped');
    // Its other clients still build their own agents (what they did before), and still work.
    const plain = kc.makeApiClient(CoreV1Api);
    assert.equal((await plain.readNamespacedPod({ name: 'q', namespace: 'ns' })).metadata?.name, 'q');
  });
});
