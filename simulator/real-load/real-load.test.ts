import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadPolicyFile } from '../../common/policy.ts';
import { simulateRealLoad, type RealLoadPolicy, type RealLoadSpec } from './engine.ts';
import { realLoadMain } from './main.ts';
import { parsePai } from './pai.ts';

const dir = mkdtempSync(join(tmpdir(), 'loadwise-real-load-'));

// Half the tasks use five times the CPU they request, half a tenth: what requests cannot see.
const HEADER = 'plan_cpu,plan_mem,cpu_usage,avg_mem,start_time,end_time';
const rows = [HEADER];
for (let i = 0; i < 20; i++) rows.push(i % 2 ? '200,4,1000,2,0,1200' : '800,8,80,4,100,2500');
rows.push(',,,,,'); // an incomplete row is skipped
const tracePath = join(dir, 'pai.csv');
writeFileSync(tracePath, rows.join('\n'));

const loaded = await loadPolicyFile('configs/policy.yaml');
if (!loaded.ok) throw new Error(loaded.error);
const shipped = loaded.policy;

function spec(p: RealLoadPolicy): RealLoadSpec {
  return {
    policy: p,
    seed: 7,
    nodes: 10,
    nodeCpuCores: 32,
    nodeMemoryBytes: 128 * 2 ** 30,
    offeredLoad: 0.9,
    warmupMs: 20 * 60_000,
    measureMs: 40 * 60_000,
    sampleMs: 10_000,
    syncMs: 30_000,
    minChange: 0.02,
    noise: 0.1,
    policyFile: shipped,
  };
}

describe('real-load simulation', () => {
  // In the suite, not at the root: the suite is registered after a top-level await, and a root hook
  // registered before it may run before the suite does.
  after(() => rmSync(dir, { recursive: true, force: true }));
  const tasks = parsePai(readFileSync(tracePath, 'utf8'), tracePath, 7200);

  it('reads requests and real use in cores and bytes, clamping durations', () => {
    assert.equal(tasks.length, 20);
    assert.deepEqual(tasks[1], {
      requestCpu: 2,
      requestMemory: 4 * 2 ** 30,
      useCpu: 10,
      useMemory: 2 * 2 ** 30,
      durationS: 1200,
    });
  });

  it('offers every policy the same pods, and real load beats requests on hot node-minutes', () => {
    const results = (['requests', 'crane', 'loadwise'] as const).map((p) =>
      simulateRealLoad(tasks, spec(p), () => 0),
    );
    const [requests, crane, loadwise] = results as [
      (typeof results)[0],
      (typeof results)[0],
      (typeof results)[0],
    ];
    assert.ok(requests.arrived > 30, `${requests.arrived} arrived`);
    assert.equal(crane.arrived, requests.arrived);
    assert.equal(loadwise.arrived, requests.arrived);
    assert.ok(requests.hot80NodeMinutes > loadwise.hot80NodeMinutes, JSON.stringify(results));
    assert.equal(requests.patchesPerNodeHour, 0, 'no controller without an extender');
    assert.ok(loadwise.patchesPerNodeHour > 0);
    // The same seed, the same run.
    assert.deepEqual(
      simulateRealLoad(tasks, spec('loadwise'), () => 0),
      loadwise,
    );
  });

  it('writes summary.csv and report.html from the command line', async () => {
    const out = join(dir, 'out');
    const results = await realLoadMain([
      '--trace',
      tracePath,
      '--nodes',
      '5',
      '--node-cpu',
      '32',
      '--warmup',
      '10m',
      '--measure',
      '20m',
      '--load',
      '80',
      '--out',
      out,
    ]);
    assert.equal(results.length, 3);
    const csv = readFileSync(join(out, 'summary.csv'), 'utf8').trim().split('\n');
    assert.match(csv[0]!, /^offered_load_pct,policy,seed,nodes,hot80_node_minutes,hot95_node_minutes/);
    assert.equal(csv.length, 4);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    for (const p of ['requests', 'crane', 'loadwise']) assert.ok(html.includes(`<td>${p}</td>`));
  });

  it('refuses a load that is not a percentage', async () => {
    await assert.rejects(realLoadMain(['--load', 'lots', '--out', dir]), /percentages/);
  });
});
