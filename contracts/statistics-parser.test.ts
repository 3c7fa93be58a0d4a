import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFileSync } from 'node:fs';
import { DEFAULT_SAMPLE_INTERVAL_SECONDS } from './agent-api.ts';
import { parseStatistics } from './statistics-parser.ts';

const good = {
  node: 'n1',
  timestamp: '2026-11-22T06:07:12Z',
  sampleAgeSeconds: 1.5,
  sampleIntervalSeconds: 10,
  windows: { cpu_usage_avg_5m: 0.35, mem_usage_active: 0.5, gpu_usage_future_figure: 0.1 },
  coverageSeconds: { cpu_usage_avg_5m: 300, mem_usage_active: 10 },
};

describe('parseStatistics', () => {
  it('accepts an agent document and keeps the figures it knows', () => {
    const r = parseStatistics(good);
    assert.ok(r.ok);
    assert.equal(r.stats.timestampMs, Date.UTC(2026, 10, 22, 6, 7, 12));
    assert.deepEqual(r.stats.windows, { cpu_usage_avg_5m: 0.35, mem_usage_active: 0.5 });
    assert.deepEqual(r.stats.coverageSeconds, { cpu_usage_avg_5m: 300, mem_usage_active: 10 });
  });

  it("accepts the first release's document, as its agent served it", () => {
    // Captured from the agent of commit 3fd30d4 (`npm run agent` on a loaded machine): CPU and
    // memory figures only, no gpus section, no gpu_ figures.
    const first = JSON.parse(
      readFileSync(new URL('../test/agents/fixtures/statistics-first-release.json', import.meta.url), 'utf8'),
    ) as { windows: Record<string, number> };
    const r = parseStatistics(first);
    assert.ok(r.ok, r.ok ? '' : r.error);
    assert.equal(r.stats.node, 'node-a');
    assert.deepEqual(r.stats.windows, first.windows, 'every figure it sent is one this build knows');
    assert.equal(r.stats.gpus, undefined);
  });

  it('takes defaults for fields an older agent did not send, and ignores fields a newer one adds', () => {
    // Fields a release added after the first: an older agent would not send them.
    const older: Record<string, unknown> = { ...good };
    delete older.sampleIntervalSeconds;
    delete older.coverageSeconds;
    const r = parseStatistics(older);
    assert.ok(r.ok, r.ok ? '' : r.error);
    assert.equal(r.stats.sampleIntervalSeconds, DEFAULT_SAMPLE_INTERVAL_SECONDS);
    assert.deepEqual(r.stats.coverageSeconds, {});
    assert.equal(r.stats.windows.cpu_usage_avg_5m, 0.35);
    const newer = parseStatistics({ ...good, sampleJitterSeconds: 0.2, kernel: { version: '6.18' } });
    assert.ok(newer.ok, newer.ok ? '' : newer.error);
  });

  const broken: [string, unknown][] = [
    ['null', null],
    ['a string', 'hello'],
    ['an array', []],
    ['no node', { ...good, node: undefined }],
    ['a fraction above 1', { ...good, windows: { cpu_usage_avg_5m: 1.2 } }],
    ['a negative fraction', { ...good, windows: { cpu_usage_avg_5m: -0.1 } }],
    ['a string figure', { ...good, windows: { cpu_usage_avg_5m: '0.3' } }],
    ['a bad timestamp', { ...good, timestamp: 'now' }],
    ['a negative age', { ...good, sampleAgeSeconds: -1 }],
    ['an age no date can hold', { ...good, sampleAgeSeconds: 1e308 }],
    ['an age over a day', { ...good, sampleAgeSeconds: 86_401 }],
    [
      'no sample age (every release sent it; the figures cannot be dated without it)',
      { ...good, sampleAgeSeconds: undefined },
    ],
    ['a zero sample interval', { ...good, sampleIntervalSeconds: 0 }],
  ];
  for (const [what, body] of broken) {
    it(`rejects ${what} with a reason`, () => {
      const r = parseStatistics(body);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, /^invalid statistics: /);
    });
  }
});
