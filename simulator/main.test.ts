import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { main } from './main.ts';
import { SUMMARY_COLUMNS } from './report/csv.ts';
import { COLUMN_NOTES } from './report/html.ts';

const dir = mkdtempSync(join(tmpdir(), 'loadwise-sim-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Four nodes (12 GPUs) and a trace of shares, whole GPUs and CPU-only tasks.
const nodes = join(dir, 'nodes.csv');
writeFileSync(
  nodes,
  [
    'sn,cpu_milli,memory_mib,gpu,model',
    'n0,32000,131072,4,T4',
    'n1,32000,131072,4,T4',
    'n2,64000,262144,2,V100',
    'n3,16000,65536,2,T4',
  ].join('\n'),
);
const pods = join(dir, 'openb_pod_list_tiny.csv');
const rows = ['name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec'];
for (let i = 0; i < 12; i++)
  rows.push(
    `p${i},${2000 + (i % 3) * 1000},4096,${i % 4 === 0 ? 0 : 1},${i % 4 === 0 ? 0 : [1000, 500, 250][i % 3]},${i === 5 ? 'T4' : ''}`,
  );
rows.push('big,8000,8192,2,1000,');
writeFileSync(pods, rows.join('\n'));

describe('simulate CLI end to end', () => {
  it('writes summary.csv, curves.csv and report.html for every trace × policy × seed', async () => {
    const out = join(dir, 'out');
    const results = await main([
      '--nodes',
      nodes,
      '--pods',
      pods,
      '--policy',
      'random,fgd-paper,fgd',
      '--seeds',
      '1..2',
      '--out',
      out,
      '--workers',
      '1',
    ]);
    assert.equal(results.length, 6);
    const summary = readFileSync(join(out, 'summary.csv'), 'utf8').trim().split('\n');
    assert.equal(summary[0], SUMMARY_COLUMNS.join(','));
    assert.equal(summary.length, 7);
    assert.match(summary[1]!, /^tiny,random,1,[\d.]+,[\d.]+,[\d.]*,\d+$/);
    const curves = readFileSync(join(out, 'curves.csv'), 'utf8').trim().split('\n');
    assert.ok(curves.length > 6);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.match(html, /<svg/);
    assert.match(html, /loadwise/);
    // Beside each full curve a 90–110 % zoom; a min–max band per policy; what produced it.
    assert.equal(html.match(/aria-label="tiny: 0–130 % arrived"/g)?.length, 1);
    assert.equal(html.match(/aria-label="tiny: 90–110 % arrived"/g)?.length, 1);
    assert.equal(html.match(/<polygon class="band"/g)?.length, 6, 'a band per policy in each chart');
    assert.match(
      html,
      /npm run simulate -- --nodes \S+nodes\.csv --pods \S+tiny\.csv --policy random,fgd-paper,fgd/,
    );
    assert.match(html, /<th>seeds<\/th><td>1, 2<\/td>/);
    assert.match(html, /<th>commit<\/th><td><code>([0-9a-f]{40}|unknown)/);
    for (const [column] of COLUMN_NOTES)
      assert.match(html, new RegExp(`<dt>${column.replace(/[%()]/g, '.')}</dt><dd>`));
    for (const r of results) {
      assert.ok(r.unallocatedPctAt100 >= 0 && r.unallocatedPctAt100 <= 100);
      assert.ok(r.arrivedTasks >= 13);
    }
  });

  it('runs seeds on worker threads with the same results', async () => {
    const one = await main([
      '--nodes',
      nodes,
      '--pods',
      pods,
      '--policy',
      'bestfit',
      '--seeds',
      '3,4',
      '--out',
      join(dir, 'a'),
      '--workers',
      '1',
    ]);
    const two = await main([
      '--nodes',
      nodes,
      '--pods',
      pods,
      '--policy',
      'bestfit',
      '--seeds',
      '3,4',
      '--out',
      join(dir, 'b'),
      '--workers',
      '2',
    ]);
    assert.deepEqual(
      two.map((r) => [r.seed, r.unallocatedPctAt100, r.failedTasks]),
      one.map((r) => [r.seed, r.unallocatedPctAt100, r.failedTasks]),
    );
  });

  it('refuses an unknown policy', async () => {
    await assert.rejects(
      main(['--nodes', nodes, '--pods', pods, '--policy', 'nope', '--out', dir]),
      /unknown nope/,
    );
  });
});
