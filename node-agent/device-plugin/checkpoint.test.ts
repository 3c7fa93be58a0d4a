import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CHECKPOINT_FILE, Checkpoint } from './checkpoint.ts';
import type { ContainerAllocation } from './matcher.ts';

const allocation: ContainerAllocation = {
  podUID: 'uid-1',
  namespace: 'ns',
  podName: 'p',
  container: 'main',
  shares: [{ index: 1, core: 30, memoryMiB: 2048, uuid: 'GPU-1' }],
  request: { core: 30, memory: 8 },
  deviceIds: { core: ['GPU-1-core-0'] },
  allocatedAtMs: 5,
};

describe('Checkpoint', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp('/tmp/lw-ckpt-');
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it('round-trips allocations and reports a missing file as missing', async () => {
    const checkpoint = new Checkpoint(join(dir, 'a'), () => 1);
    assert.deepEqual(await checkpoint.load(), { kind: 'missing' });
    await checkpoint.save('node', [allocation]);
    assert.deepEqual(await checkpoint.load(), { kind: 'ok', allocations: [allocation] });
  });

  it('sets aside a file whose checksum does not match, keeping it for a post-mortem', async () => {
    const checkpoint = new Checkpoint(join(dir, 'b'), () => 42);
    await checkpoint.save('node', [allocation]);
    const text = await readFile(checkpoint.path, 'utf8');
    await writeFile(checkpoint.path, text.replace('"core\\":30', '"core\\":99'));
    const loaded = await checkpoint.load();
    assert.equal(loaded.kind, 'corrupt');
    assert.equal(loaded.kind === 'corrupt' && loaded.reason, 'checksum mismatch');
    assert.deepEqual(await readdir(join(dir, 'b')), [`${CHECKPOINT_FILE}.corrupt-42`]);
  });

  it('refuses entries of the wrong shape even with a valid checksum', async () => {
    const checkpoint = new Checkpoint(join(dir, 'c'), () => 7);
    await checkpoint.save('node', [{ ...allocation, shares: [] }]);
    const loaded = await checkpoint.load();
    assert.equal(loaded.kind === 'corrupt' && loaded.reason, 'an allocation entry is malformed');
  });
});
