import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { allocationFor, applyOp } from '../../test/support/checkpoint-writer.ts';
import { spawnWatched } from '../../test/support/process.ts';
import { CHECKPOINT_FILE, Checkpoint, type CheckpointLoad, JOURNAL_FILE } from './checkpoint.ts';
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
    // Its journal goes with it: the journal only means something on top of its snapshot.
    assert.deepEqual((await readdir(join(dir, 'b'))).sort(), [
      `${JOURNAL_FILE}.corrupt-42`,
      `${CHECKPOINT_FILE}.corrupt-42`,
    ]);
  });

  it('refuses entries of the wrong shape even with a valid checksum', async () => {
    const checkpoint = new Checkpoint(join(dir, 'c'), () => 7);
    await checkpoint.save('node', [{ ...allocation, shares: [] }]);
    const loaded = await checkpoint.load();
    assert.equal(loaded.kind === 'corrupt' && loaded.reason, 'an allocation entry is malformed');
  });
});

describe('Checkpoint journal', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp('/tmp/lw-journal-');
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  const several = (n: number, from = 0) => Array.from({ length: n }, (_, i) => allocationFor(from + i));
  const names = (load: CheckpointLoad) =>
    load.kind === 'ok' ? load.allocations.map((a) => a.podName).sort() : [`(${load.kind})`];
  /** A checkpoint with two allocations in its snapshot and three in its journal. */
  async function journaled(name: string): Promise<Checkpoint> {
    const checkpoint = new Checkpoint(join(dir, name), () => 9);
    const held = several(2);
    await checkpoint.save('node', held);
    for (const a of several(3, 2)) {
      held.push(a);
      await checkpoint.record('node', a, () => held);
    }
    return checkpoint;
  }

  it('an allocation costs one journal line; a restart sees snapshot plus journal, changes included', async () => {
    const checkpoint = await journaled('a');
    const snapshot = await readFile(checkpoint.path, 'utf8');
    const size = (await stat(checkpoint.journalPath)).size;
    const changed = { ...allocationFor(3), deviceIds: { core: ['c'], memory: ['m'] } };
    await checkpoint.record('node', changed, () => []);
    assert.equal(await readFile(checkpoint.path, 'utf8'), snapshot, 'the snapshot was not rewritten');
    // Written over the journal's zero padding: no size change, so the flush is the data alone.
    assert.equal((await stat(checkpoint.journalPath)).size, size);
    assert.equal((await readFile(checkpoint.journalPath, 'utf8')).split('\n').length, 1 + 4 + 1);
    checkpoint.close();
    const loaded = await new Checkpoint(join(dir, 'a'), () => 9).load();
    assert.deepEqual(names(loaded), ['pod-0', 'pod-1', 'pod-2', 'pod-3', 'pod-4']);
    assert.deepEqual(loaded.kind === 'ok' && loaded.allocations.find((a) => a.podName === 'pod-3'), changed);
  });

  for (const [what, tear] of [
    ['a line cut short', (text: string) => text.slice(0, -40)],
    ['a whole last line the disk got wrong', (text: string) => text.replace(/pod-4/, 'pod-9')],
    [
      'a last line of zeros',
      (text: string) => `${text.slice(0, text.lastIndexOf('pod-4'))}${'\0'.repeat(300)}`,
    ],
  ] as const) {
    it(`ignores a torn last write (${what}) and starts a fresh journal before the next one`, async () => {
      const name = `torn-${what.length}`;
      (await journaled(name)).close();
      const checkpoint = new Checkpoint(join(dir, name), () => 9);
      // The records, without the zeros the journal is padded with; torn, then padded again.
      const records = (await readFile(checkpoint.journalPath, 'utf8')).replace(/\0*$/, '');
      await writeFile(checkpoint.journalPath, `${tear(records)}${'\0'.repeat(4096)}`);
      const loaded = await checkpoint.load();
      assert.deepEqual(names(loaded), ['pod-0', 'pod-1', 'pod-2', 'pod-3']);
      const held = loaded.kind === 'ok' ? loaded.allocations : [];
      const next = allocationFor(5);
      await checkpoint.record('node', next, () => [...held, next]);
      checkpoint.close();
      assert.ok(!(await readFile(checkpoint.journalPath, 'utf8')).includes('pod-4'), 'the torn line is gone');
      const reloaded = await new Checkpoint(join(dir, name), () => 9).load();
      assert.deepEqual(names(reloaded), ['pod-0', 'pod-1', 'pod-2', 'pod-3', 'pod-5']);
    });
  }

  it('sets snapshot and journal aside when a bad journal line has good ones after it', async () => {
    const checkpoint = await journaled('mid');
    checkpoint.close();
    const text = await readFile(checkpoint.journalPath, 'utf8');
    await writeFile(checkpoint.journalPath, text.replace('pod-2', 'pod-7'));
    const loaded = await new Checkpoint(join(dir, 'mid'), () => 11).load();
    assert.equal(loaded.kind === 'corrupt' && loaded.reason, 'journal line 2 is malformed');
    assert.deepEqual((await readdir(join(dir, 'mid'))).sort(), [
      `${JOURNAL_FILE}.corrupt-11`,
      `${CHECKPOINT_FILE}.corrupt-11`,
    ]);
  });

  it('a compaction that died before resetting the journal does not bring freed allocations back', async () => {
    const checkpoint = await journaled('compact');
    const oldJournal = await readFile(checkpoint.journalPath, 'utf8');
    // The sweep frees pod-3 and writes a snapshot; the process dies before the journal is reset.
    const kept = several(5).filter((a) => a.podName !== 'pod-3');
    await checkpoint.save('node', kept);
    checkpoint.close();
    await writeFile(checkpoint.journalPath, oldJournal);
    const fresh = new Checkpoint(join(dir, 'compact'), () => 9);
    assert.deepEqual(names(await fresh.load()), ['pod-0', 'pod-1', 'pod-2', 'pod-4']);
    // The disowned journal is not extended: the next allocation starts a new one.
    await fresh.record('node', allocationFor(6), () => [...kept, allocationFor(6)]);
    fresh.close();
    assert.deepEqual(names(await new Checkpoint(join(dir, 'compact'), () => 9).load()), [
      'pod-0',
      'pod-1',
      'pod-2',
      'pod-4',
      'pod-6',
    ]);
  });

  it('reads a checkpoint written before the journal existed, and keeps it on the first new allocation', async () => {
    const sub = join(dir, 'old');
    await mkdir(sub);
    // Byte for byte what the agent wrote before: no journal id in the body.
    const body = JSON.stringify({ node: 'node', allocations: several(2) });
    const sum = createHash('sha256').update(body).digest('hex');
    await writeFile(join(sub, CHECKPOINT_FILE), JSON.stringify({ version: 1, checksum: sum, body }));
    const checkpoint = new Checkpoint(sub, () => 9);
    const loaded = await checkpoint.load();
    assert.deepEqual(names(loaded), ['pod-0', 'pod-1']);
    const held = [...(loaded.kind === 'ok' ? loaded.allocations : []), allocationFor(2)];
    await checkpoint.record('node', allocationFor(2), () => held);
    checkpoint.close();
    assert.deepEqual(names(await new Checkpoint(sub, () => 9).load()), ['pod-0', 'pod-1', 'pod-2']);
  });

  it('folds the journal into a new snapshot once it reaches its bound', async () => {
    const checkpoint = new Checkpoint(join(dir, 'bound'), () => 9, 2048);
    const held: ContainerAllocation[] = [];
    for (const a of several(40)) {
      held.push(a);
      await checkpoint.record('node', a, () => held);
      const records = (await readFile(checkpoint.journalPath, 'utf8')).replace(/\0*$/, '');
      assert.ok(records.length < 2048 + 1024, `${records.length} bytes of records`);
    }
    checkpoint.close();
    assert.equal(names(await new Checkpoint(join(dir, 'bound'), () => 9).load()).length, 40);
  });

  it('lays down more zero padding when records reach its end, and a restart reads across it', async () => {
    const checkpoint = new Checkpoint(join(dir, 'pad'), () => 9);
    const held: ContainerAllocation[] = [];
    for (const a of several(300)) {
      held.push(a);
      await checkpoint.record('node', a, () => held);
    }
    checkpoint.close();
    const { size } = await stat(checkpoint.journalPath);
    assert.ok(size > 64 * 1024 && size % (64 * 1024) === 0, `journal of ${size} bytes`);
    assert.equal(names(await new Checkpoint(join(dir, 'pad'), () => 9).load()).length, 300);
  });

  it('refuses a journal larger than 8 MiB as not its own', async () => {
    const checkpoint = await journaled('huge');
    checkpoint.close();
    await writeFile(checkpoint.journalPath, 'x'.repeat(8 * 1024 * 1024 + 1));
    const loaded = await new Checkpoint(join(dir, 'huge'), () => 9).load();
    assert.equal(loaded.kind === 'corrupt' && loaded.reason, 'journal larger than 8 MiB');
  });

  it('kill -9 at any point: a restart recovers the last acknowledged state or the one in flight', async () => {
    const writer = fileURLToPath(new URL('../../test/support/checkpoint-writer.ts', import.meta.url));
    // Small journal bound, so kills also land inside compactions; kill points spread over ops.
    for (const killAfter of [17, 48, 49, 160, 233]) {
      const sub = join(dir, `kill-${killAfter}`);
      const run = spawnWatched(['--import', 'tsx', writer, sub, '3000']);
      const exited = once(run.child, 'exit');
      await run.waitFor(`ack ${killAfter}`);
      run.child.kill('SIGKILL');
      await exited;
      const acked = Math.max(...run.lines.map((l) => Number(l.split(' ')[1])));
      const stateAfter = (k: number) => {
        const state = new Map<string, ContainerAllocation>();
        for (let i = 0; i <= k; i++) applyOp(state, i);
        return [...state.values()].map((a) => JSON.stringify(a)).sort();
      };
      const loaded = await new Checkpoint(sub, () => 9).load();
      assert.equal(loaded.kind, 'ok', `killed after ack ${acked}`);
      const got = (loaded.kind === 'ok' ? loaded.allocations : []).map((a) => JSON.stringify(a)).sort();
      const ok = [stateAfter(acked), stateAfter(acked + 1)].some(
        (s) => JSON.stringify(s) === JSON.stringify(got),
      );
      assert.ok(
        ok,
        `killed after ack ${acked}: recovered ${got.length} allocations, not the acknowledged state`,
      );
    }
  });
});
