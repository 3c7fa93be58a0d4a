import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
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
  ];
  for (const [what, body] of broken) {
    it(`rejects ${what} with a reason`, () => {
      const r = parseStatistics(body);
      assert.equal(r.ok, false);
      if (!r.ok) assert.match(r.error, /^invalid statistics: /);
    });
  }
});
