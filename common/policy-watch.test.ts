import assert from 'node:assert/strict';
import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadPolicyFile, type PolicyResult, readPolicyText } from './policy.ts';
import { watchPolicyFile } from './policy-watch.ts';

const VALID = (period: string) =>
  `apiVersion: loadwise.io/v1alpha1\nkind: SchedulerPolicy\nsyncPolicy:\n  - {name: cpu_usage_avg_5m, period: ${period}}\n`;

/** A watcher on a fresh file holding VALID('3m'): its results, and a promise for the next one. */
async function watched() {
  const dir = await mkdtemp(join(tmpdir(), 'policy-watch-'));
  const path = join(dir, 'policy.yaml');
  await writeFile(path, VALID('3m'));
  const results: PolicyResult[] = [];
  // The watcher's timer does not hold the process open (by design); the test must.
  const keepAlive = setInterval(() => {}, 1000);
  let notify: () => void = () => {};
  const next = () =>
    new Promise<void>((resolve) => {
      notify = resolve;
    });
  const stop = watchPolicyFile({
    path,
    intervalMs: 10,
    initialText: VALID('3m'),
    onChange: (r) => {
      results.push(r);
      notify();
    },
  });
  const close = async () => {
    stop();
    clearInterval(keepAlive);
    await rm(dir, { recursive: true, force: true });
  };
  return { path, results, next, close };
}

test('a changed policy file is reported once per change: valid, then invalid, then valid again', async () => {
  const { path, results, next, close } = await watched();
  try {
    let arrived = next();
    await writeFile(path, VALID('7m'));
    await arrived;
    arrived = next();
    await writeFile(path, 'kind: nonsense');
    await arrived;
    arrived = next();
    await writeFile(path, VALID('7m'));
    await arrived;
  } finally {
    await close();
  }
  assert.equal(results.length, 3);
  assert.ok(results[0]!.ok && results[0]!.policy.syncPolicy[0]!.periodMs === 7 * 60_000);
  assert.equal(results[1]!.ok, false);
  assert.equal(results[2]!.ok, true);
});

test('a 100 MB policy file on reload is refused like at start-up, read no further than the cap, and the last good policy stays', async () => {
  const { path, results, next, close } = await watched();
  try {
    const arrived = next();
    // The attack: the file grows to 100 MB (sparse here, so the test writes nothing to disk).
    await truncate(path, 100 * 1024 * 1024);
    await arrived;
    // Later polls (every 10 ms) see the same oversized file and stay quiet about it.
    assert.equal((await readPolicyText(path)).ok, false);
  } finally {
    await close();
  }
  assert.equal(results.length, 1);
  assert.deepEqual(results[0], { ok: false, error: `${path}: larger than 1048576 bytes` });
  assert.equal((await loadPolicyFile('/nonexistent/policy.yaml')).ok, false);
});
