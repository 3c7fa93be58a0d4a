import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PeriodicRunner, forEachLimit } from './periodic.ts';

test('a cycle that outlasts the period never overlaps the next one, and counts as an overrun', async () => {
  let running = 0;
  let maxRunning = 0;
  let runs = 0;
  let overruns = 0;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const runner = new PeriodicRunner({
    periodMs: 20,
    onOverrun: () => overruns++,
    task: async () => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      // Every other cycle takes three periods.
      await new Promise((r) => setTimeout(r, runs % 2 === 0 ? 60 : 1));
      running--;
      if (++runs === 6) finish();
    },
  });
  runner.start();
  await finished;
  await runner.stop();
  assert.equal(maxRunning, 1);
  assert.ok(overruns >= 3, `overruns: ${overruns}`);
});

test('a failing cycle is reported and the next one still runs', async () => {
  const errors: unknown[] = [];
  let runs = 0;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    resolveDone = resolve;
  });
  const runner = new PeriodicRunner({
    periodMs: 5,
    onError: (err) => errors.push(err),
    task: async () => {
      if (++runs === 1) throw new Error('boom');
      resolveDone();
    },
  });
  runner.start();
  await done;
  await runner.stop();
  assert.equal(errors.length, 1);
});

test('forEachLimit keeps at most `limit` tasks in flight and visits every item once', async () => {
  let inFlight = 0;
  let max = 0;
  const seen: number[] = [];
  await forEachLimit([...Array(50).keys()], 7, async (i) => {
    inFlight++;
    max = Math.max(max, inFlight);
    await new Promise((r) => setImmediate(r));
    seen.push(i);
    inFlight--;
  });
  assert.equal(max, 7);
  assert.deepEqual(
    seen.sort((a, b) => a - b),
    [...Array(50).keys()],
  );
});
