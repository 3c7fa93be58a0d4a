import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import type { PolicyResult } from './policy.ts';
import { watchPolicyFile } from './policy-watch.ts';

const VALID = (period: string) =>
  `apiVersion: loadwise.io/v1alpha1\nkind: SchedulerPolicy\nsyncPolicy:\n  - {name: cpu_usage_avg_5m, period: ${period}}\n`;

test('a changed policy file is reported once per change: valid, then invalid, then valid again', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'policy-watch-'));
  const path = join(dir, 'policy.yaml');
  await writeFile(path, VALID('3m'));
  const results: PolicyResult[] = [];
  // The watcher's timer does not hold the process open (by design); this test must.
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
    stop();
    clearInterval(keepAlive);
    await rm(dir, { recursive: true, force: true });
  }
  assert.equal(results.length, 3);
  assert.ok(results[0]!.ok && results[0]!.policy.syncPolicy[0]!.periodMs === 7 * 60_000);
  assert.equal(results[1]!.ok, false);
  assert.equal(results[2]!.ok, true);
});
