// Every command a user can run answers --help: exit code 0, usage on stdout, no line wider than
// 80 columns (whatever the terminal), and required options marked as such.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';

const run = promisify(execFile);
const tsx = ['--import', 'tsx'];

const COMMANDS: Record<string, string[]> = {
  'npm start': [...tsx, 'local/start.ts'],
  'npm run agent:dev': [...tsx, 'node-agent/main.ts'],
  'npm run controller': [...tsx, 'controller/main.ts'],
  'npm run scheduler': [...tsx, 'scheduler/main.ts'],
  'npm run simulate': [...tsx, 'simulator/main.ts'],
  'npm run build': ['hack/build.mjs'],
  'npm run bench': [...tsx, 'bench/index.ts'],
};

describe('--help', () => {
  for (const [name, args] of Object.entries(COMMANDS)) {
    it(`${name} -- --help: usage within 80 columns`, async () => {
      // COLUMNS as a wide terminal would set it: the layout must not follow it.
      const { stdout } = await run(process.execPath, [...args, '--help'], {
        env: { ...process.env, COLUMNS: '200' },
        timeout: 60_000,
      });
      assert.match(stdout, /^Usage: /);
      const wide = stdout.split('\n').filter((l) => l.length > 80);
      assert.deepEqual(wide, []);
    });
  }

  it('simulate marks its required options', async () => {
    const { stdout } = await run(process.execPath, [...COMMANDS['npm run simulate']!, '--help']);
    for (const flag of ['--nodes', '--pods', '--policy', '--out']) {
      const block = stdout.slice(stdout.indexOf(`  ${flag} `)).split(/\n {2}-/)[0]!;
      assert.match(block, /\(required\)/, flag);
    }
    assert.doesNotMatch(stdout.slice(stdout.indexOf('  --seeds ')).split(/\n {2}-/)[0]!, /\(required\)/);
  });
});
