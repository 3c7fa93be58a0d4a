import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { MemReading, parseMeminfo } from './meminfo.ts';

const fixture = (name: string) => readFileSync(new URL(`fixtures/proc/${name}`, import.meta.url));

function parse(content: string | Buffer): { outcome: string; reading: MemReading } {
  const buf = typeof content === 'string' ? Buffer.from(content) : content;
  const reading = new MemReading();
  return { outcome: parseMeminfo(buf, buf.length, reading), reading };
}

describe('/proc/meminfo', () => {
  it('reads a real 6.x kernel file: used = 1 − MemAvailable/MemTotal', () => {
    const text = fixture('meminfo-linux-6.18').toString();
    const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(text)![1]);
    const { outcome, reading } = parse(text);
    assert.equal(outcome, 'ok');
    assert.equal(reading.estimated, false);
    assert.equal(reading.usedFraction, 1 - kib('MemAvailable') / kib('MemTotal'));
  });

  it('estimates MemAvailable on kernels before 3.14 from free + file pages + reclaimable slab', () => {
    const { outcome, reading } = parse(fixture('meminfo-linux-2.6.32'));
    assert.equal(outcome, 'ok');
    assert.equal(reading.estimated, true);
    const available = 1349484 + 2318556 + 2407300 + 330960;
    assert.equal(reading.usedFraction, 1 - available / 8057964);
  });

  it('falls back to free + buffers + cached when even the file-page lines are missing', () => {
    const { outcome, reading } = parse(
      'MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\n',
    );
    assert.equal(outcome, 'ok');
    assert.equal(reading.usedFraction, 0.6);
  });

  it('clamps to 0..1 when the kernel reports more available than total', () => {
    assert.equal(parse('MemTotal: 1000 kB\nMemAvailable: 1200 kB\n').reading.usedFraction, 0);
  });

  it('rejects a truncated file', () => {
    assert.equal(parse(fixture('meminfo-truncated')).outcome, 'truncated');
    assert.equal(parse('').outcome, 'truncated');
  });

  it('rejects files without a usable total or any free figure', () => {
    assert.equal(parse('MemFree: 100 kB\nMemAvailable: 50 kB\n').outcome, 'malformed');
    assert.equal(parse('MemTotal: 0 kB\nMemAvailable: 0 kB\n').outcome, 'malformed');
    assert.equal(parse('MemTotal: 1000 kB\nSwapTotal: 0 kB\n').outcome, 'malformed');
    assert.equal(parse('MemTotal: lots kB\nMemAvailable: 5 kB\n').outcome, 'malformed');
    assert.equal(parse('garbage without colons\n').outcome, 'malformed');
  });

  it('does not keep stale fields from a previous reading', () => {
    const reading = new MemReading();
    const a = Buffer.from('MemTotal: 1000 kB\nMemAvailable: 500 kB\n');
    const b = Buffer.from('MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 0 kB\nCached: 0 kB\n');
    assert.equal(parseMeminfo(a, a.length, reading), 'ok');
    assert.equal(parseMeminfo(b, b.length, reading), 'ok');
    assert.equal(reading.estimated, true);
    assert.equal(reading.usedFraction, 0.9);
  });
});
