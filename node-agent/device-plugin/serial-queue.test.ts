import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SerialQueue } from './serial-queue.ts';

describe('SerialQueue', () => {
  it('runs one task at a time in arrival order; a failure reaches its caller only', async () => {
    const queue = new SerialQueue();
    const log: string[] = [];
    const task =
      (name: string, fail = false) =>
      async () => {
        log.push(`${name} start`);
        await new Promise((resolve) => setTimeout(resolve, 5));
        log.push(`${name} end`);
        if (fail) throw new Error(name);
        return name;
      };
    const a = queue.run(task('a'));
    const b = queue.run(task('b', true));
    const c = queue.run(task('c'));
    assert.equal(await a, 'a');
    await assert.rejects(b, /b/);
    assert.equal(await c, 'c');
    await queue.idle();
    assert.deepEqual(log, ['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
  });

  it('idle() waits for everything queued so far and never rejects', async () => {
    const queue = new SerialQueue();
    let done = false;
    void queue
      .run(async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        done = true;
        throw new Error('late');
      })
      .catch(() => undefined);
    await queue.idle();
    assert.equal(done, true);
  });
});
