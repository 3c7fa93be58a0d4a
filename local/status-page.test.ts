// The status page as a person sees it: a headless Chromium (when this machine has one; CI images
// often do not, and then the browser part skips) opens the page of a running local cluster, and the
// charts over time render with real series in them. The screenshot lands in $LOADWISE_SCREENSHOTS
// (default: a temporary folder) for a human to look at.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { systemClock } from '../common/clock.ts';
import { createLogger } from '../common/log.ts';
import { loadPolicyFile } from '../common/policy.ts';
import { parseLocalCluster } from './cluster-config.ts';
import type { LocalCluster } from './local-cluster.ts';
import { createStatusServer, figureLabel } from './status-page.ts';
import { StatusHistory, sampleInto } from './status-history.ts';
import { gatherStatus } from './status.ts';
import { startLocalCluster } from '../test/support/local-mode.ts';
import { eventually } from '../test/support/wait.ts';

const CHROMIUM = [
  process.env.CHROMIUM_PATH,
  '/usr/bin/chromium',
  '/usr/bin/chromium-browser',
  '/usr/bin/google-chrome',
]
  .filter((p): p is string => !!p)
  .find((p) => existsSync(p));

const SPEC = parseLocalCluster(
  `apiVersion: loadwise.io/v1alpha1
kind: LocalCluster
sampleInterval: 100ms
syncPeriod: 300ms
thisMachine: { include: false }
nodes:
  - { name: gpu-1, cpu: 16, memory: 64Gi, gpus: [{ model: Tesla T4, memoryMiB: 15360, count: 2 }], load: { base: 0.3, swing: 0.2, period: 20s } }
  - { name: cpu-1, cpu: 8, memory: 32Gi, load: { base: 0.6, swing: 0.1, period: 30s } }
workload:
  interval: 300ms
  lifetime: 1m
  maxPods: 8
  pods:
    - { name: infer, weight: 1, cpu: 500m, memory: 1Gi, busy: 0.2, vgpuCore: 30, vgpuMemory: 8 }
    - { name: web, weight: 1, cpu: 100m, memory: 64Mi }
`,
  'test',
  '.',
);

describe('status page', () => {
  let cluster: LocalCluster;
  let page: string;
  let close: () => Promise<void>;

  before(async () => {
    const policy = await loadPolicyFile('configs/policy.yaml');
    assert.ok(policy.ok);
    const logger = createLogger({ level: 'silent', name: 'status-page-test' });
    cluster = await startLocalCluster(SPEC, policy.policy);
    const history = new StatusHistory(systemClock);
    const stopSampling = sampleInto(history, () => gatherStatus(cluster.statusSource()), 250);
    const server = createStatusServer({
      logger,
      status: () => gatherStatus(cluster.statusSource()),
      history,
    });
    page = await server.listen({ host: '127.0.0.1', port: 0 });
    close = async () => {
      stopSampling();
      await server.close();
      await cluster.stop();
    };
    // Enough history for lines, not single dots: a few samples with GPU pods placed.
    await eventually(
      async () => {
        const res = await fetch(`${page}/api/history`);
        const { points } = (await res.json()) as { points: Array<{ gpu?: { allocated: number } }> };
        return points.length >= 6 && points.some((p) => (p.gpu?.allocated ?? 0) > 0) ? true : undefined;
      },
      'six samples, one with a GPU allocated',
      30_000,
    );
  });

  after(async () => {
    await close?.();
  });

  it('serves the history its charts plot, and refuses a malformed "since" with 400', async () => {
    const res = await fetch(`${page}/api/history?since=0`);
    assert.equal(res.status, 200);
    const { points } = (await res.json()) as { points: Array<{ t: number; nodes: Record<string, unknown> }> };
    assert.deepEqual(Object.keys(points.at(-1)!.nodes).sort(), ['cpu-1', 'gpu-1']);
    const newer = (await (await fetch(`${page}/api/history?since=${points.at(-1)!.t}`)).json()) as {
      points: Array<{ t: number }>;
    };
    assert.ok(newer.points.every((p) => p.t > points.at(-1)!.t));
    for (const bad of ['abc', '-1', '1e9', '9'.repeat(40)]) {
      const r = await fetch(`${page}/api/history?since=${encodeURIComponent(bad)}`);
      assert.equal(r.status, 400, bad);
      assert.match(((await r.json()) as { message: string }).message, /since must be/);
    }
  });

  it('names figures as people read them and keeps the raw key', () => {
    assert.equal(figureLabel('cpu_usage_avg_5m'), 'CPU, 5-min average');
    assert.equal(figureLabel('mem_usage_max_avg_1h'), 'Memory, busiest 5 min of the last hour');
    assert.equal(figureLabel('node_hot_value'), 'Recent bindings (hot value)');
    assert.equal(figureLabel('something_else'), 'something_else');
  });

  it(
    'renders the four charts with their series in headless Chromium',
    { skip: CHROMIUM ? false : 'no Chromium on this machine' },
    async (t) => {
      const { chromium } = await import('playwright-core');
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
      t.after(() => browser.close());
      const tab = await browser.newPage({ viewport: { width: 1280, height: 1400 } });
      const errors: string[] = [];
      tab.on('pageerror', (e) => errors.push(e.message));
      await tab.goto(`${page}/`);
      await tab.waitForSelector('#chart-gpu svg path.series', { timeout: 15_000 });
      for (const id of ['chart-cpu', 'chart-mem', 'chart-pods', 'chart-gpu']) {
        const paths = await tab.locator(`#${id} svg path.series`).count();
        assert.ok(paths >= 1, `${id} has ${paths} series`);
      }
      assert.equal(await tab.locator('#chart-cpu svg path.series').count(), 2, 'one CPU line per node');
      // Readable headers, raw key on hover.
      const header = tab.locator('#nodes th', { hasText: 'CPU, 5-min average' });
      assert.equal(await header.getAttribute('title'), 'loadwise.io/cpu_usage_avg_5m');
      // One time format: every time on the page is HH:MM:SS.
      const times = await tab.locator('#decisions td:first-child').allInnerTexts();
      assert.ok(times.length > 0 && times.every((x) => /^\d\d:\d\d:\d\d/.test(x)), times.join(' | '));
      // Identical failures in a row (figures moving between attempts) read as one row with a count.
      // (A string, not a function: the test runner's transpiler would add helpers the page lacks.)
      const rows = (await tab.evaluate(`(() => {
      const refused = (atMs, cpu) => ({ atMs, name: 'web-' + atMs, shape: 'web', error: '0/2 nodes are available',
        filtered: { a: 'cpu_usage_avg_5m ' + cpu + ' > 0.65', b: 'node has no GPU inventory' }, scores: {} });
      const placed = { atMs: 5, name: 'web-5', shape: 'web', node: 'a', filtered: {}, scores: { a: 7 } };
      return collapse([refused(4, '0.91'), refused(3, '0.90'), refused(2, '0.88'), placed, refused(1, '0.80')])
        .map((r) => r.count);
    })()`)) as number[];
      assert.deepEqual(rows, [3, 1, 1]);
      assert.deepEqual(errors, []);
      const dir = process.env.LOADWISE_SCREENSHOTS ?? (await mkdtemp(join(tmpdir(), 'loadwise-shot-')));
      const file = join(dir, 'status-page.png');
      await tab.screenshot({ path: file, fullPage: true });
      t.diagnostic(`screenshot: ${file}`);
    },
  );
});
