import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CoreV1Api, type V1Node } from '@kubernetes/client-node';
import { kubeConfigFor } from '../doubles/apiserver/kubeconfig.ts';
import { ApiServerDouble } from '../doubles/apiserver/server.ts';
import { createLogger } from './log.ts';
import { Reflector, type ReflectorEvent } from './reflector.ts';

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Reflector against the API-server double', () => {
  let double: ApiServerDouble;
  let core: CoreV1Api;
  const kc = () => kubeConfigFor(double.url);
  before(async () => {
    double = await ApiServerDouble.start();
    core = kc().makeApiClient(CoreV1Api);
  });
  after(() => double.close());

  const node = (name: string, labels: Record<string, string> = { pool: 'a' }) =>
    double.putObject({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels } });

  function reflector(events: Array<[ReflectorEvent, string]>, restarts: string[]) {
    return new Reflector<V1Node>({
      kubeConfig: kc(),
      path: '/api/v1/nodes',
      labelSelector: 'pool=a',
      list: () => core.listNode({ labelSelector: 'pool=a' }),
      onEvent: (type, obj) => events.push([type, obj.metadata?.name ?? '']),
      onRestart: (reason) => restarts.push(reason),
      logger: createLogger({ level: 'silent', name: 'test' }),
      backoff: { initialMs: 5, maxMs: 20 },
    });
  }

  test('lists, follows the watch, and sees a node leave its selector as a deletion', async () => {
    node('r1');
    node('other', { pool: 'b' });
    const events: Array<[ReflectorEvent, string]> = [];
    const r = reflector(events, []);
    r.start();
    try {
      await r.waitForSync();
      assert.deepEqual(
        r.list().map((n) => n.metadata?.name),
        ['r1'],
      );
      node('r2');
      await until(() => r.get('r2') !== undefined, 'r2');
      node('r1', { pool: 'b' });
      await until(() => r.get('r1') === undefined, 'r1 to leave');
      assert.deepEqual(events, [
        ['ADDED', 'r1'],
        ['ADDED', 'r2'],
        ['DELETED', 'r1'],
      ]);
    } finally {
      await r.stop();
    }
  });

  test('a failing watch is retried with backoff; a node deleted while away goes on the re-list after 410', async () => {
    node('r3');
    const events: Array<[ReflectorEvent, string]> = [];
    const restarts: string[] = [];
    const r = reflector(events, restarts);
    r.start();
    try {
      await r.waitForSync();
      double.faults.failNext(3, { verb: 'watch', resource: 'nodes', status: 500 });
      double.faults.dropWatches('nodes');
      await until(() => restarts.filter((x) => x === 'error').length >= 3, 'three failed watches');
      node('r4');
      await until(() => r.get('r4') !== undefined, 'r4 after the failures');

      double.faults.failNext(1000, { verb: 'watch', resource: 'nodes', status: 503 });
      double.faults.dropWatches('nodes');
      await core.deleteNode({ name: 'r3' });
      double.compact();
      double.faults.clear();
      await until(() => r.get('r3') === undefined, 'r3 gone after the re-list');
      assert.ok(restarts.includes('gone'), restarts.join(','));
      assert.ok(events.some(([t, n]) => t === 'DELETED' && n === 'r3'));
    } finally {
      await r.stop();
    }
  });
});
