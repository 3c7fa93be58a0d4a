import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseQuantity } from './quantity.ts';

describe('Kubernetes quantities', () => {
  it('reads decimal, binary and exponent forms', () => {
    const cases: [string, number][] = [
      ['1', 1],
      ['500m', 0.5],
      ['0.5', 0.5],
      ['2Gi', 2 * 2 ** 30],
      ['1.5Gi', 1.5 * 2 ** 30],
      ['128974848', 128974848],
      ['129M', 129e6],
      ['1e3', 1000],
      ['1E-3', 0.001],
      ['100Ki', 102400],
      ['.5', 0.5],
      ['+2', 2],
      ['-1', -1],
    ];
    for (const [text, want] of cases) assert.equal(parseQuantity(text), want, text);
  });

  it('rejects what the API server rejects', () => {
    for (const bad of ['', 'abc', '1 Gi', '1gi', '1.2.3', 'Gi', '1Gii', '1e', '0x10', `${'9'.repeat(70)}`]) {
      assert.equal(parseQuantity(bad), undefined, bad);
    }
  });
});
