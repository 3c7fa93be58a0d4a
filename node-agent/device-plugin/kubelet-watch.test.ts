import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { type Server, createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLogger } from '../../common/log.ts';
import { KUBELET_SOCKET } from '../../contracts/device-plugin.ts';
import { KubeletSocketWatcher, type SocketIdentity } from './kubelet-watch.ts';

const silent = createLogger({ level: 'silent', name: 'test' });

function listen(path: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(path, () => resolve(server));
  });
}

describe('KubeletSocketWatcher', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp('/tmp/lw-watch-');
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  for (const watchDirectory of [true, false]) {
    it(`reports a new kubelet.sock and its removal (${watchDirectory ? 'directory watch' : 'poll only'})`, async () => {
      const changes: SocketIdentity[] = [];
      let notify: (() => void) | undefined;
      const watcher = new KubeletSocketWatcher(
        dir,
        watchDirectory ? 60_000 : 20,
        silent,
        (identity) => {
          changes.push(identity);
          notify?.();
        },
        watchDirectory,
      );
      // The watcher's own timers are unref'd (they must not keep an agent alive); this deadline
      // keeps the test's event loop up and fails it instead of hanging.
      const next = () =>
        new Promise<void>((resolve, reject) => {
          const deadline = setTimeout(() => reject(new Error('no change reported within 5 s')), 5000);
          notify = () => {
            clearTimeout(deadline);
            resolve();
          };
        });
      watcher.start(undefined);
      try {
        const appeared = next();
        const server = await listen(join(dir, KUBELET_SOCKET));
        await appeared;
        assert.equal(changes.length, 1);
        assert.ok(changes[0]);
        const gone = next();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        await gone;
        assert.equal(changes.at(-1), undefined);
      } finally {
        watcher.stop();
      }
    });
  }
});
