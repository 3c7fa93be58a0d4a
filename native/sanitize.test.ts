// The native tests again, against everything built under AddressSanitizer and
// UndefinedBehaviorSanitizer (`make -C native sanitize`, into native/build/sanitize): the library,
// the fake driver and NVML, and the C test programs. Any sanitizer report makes the program under
// test exit 86 (harness.ts), which fails the scenario that ran it. Real-GPU checks skip as usual.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { it } from 'node:test';
import { NATIVE_DIR, SANITIZE_ENV } from './harness.ts';

it(
  'native tests pass under AddressSanitizer and UndefinedBehaviorSanitizer',
  { timeout: 900_000 },
  async () => {
    // A child test run with the variant switched on: the same file, the same assertions. Without
    // NODE_TEST_CONTEXT, which would make the child report to this runner instead of running.
    const env: NodeJS.ProcessEnv = { ...process.env, [SANITIZE_ENV]: '1' };
    delete env.NODE_TEST_CONTEXT;
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--test', '--test-reporter=spec', join(NATIVE_DIR, 'native.test.ts')],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const [code] = (await once(child, 'close')) as [number | null];
    assert.equal(code, 0, output.slice(-20_000));
    assert.match(output, /ℹ fail 0/);
  },
);
