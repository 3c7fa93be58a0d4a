import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InvalidArgumentError } from 'commander';
import { parseListen, parsePositiveDuration, parsePositiveInt } from './cli.ts';

describe('flag parsers', () => {
  it('reads listen addresses', () => {
    assert.deepEqual(parseListen('0.0.0.0:19101'), { host: '0.0.0.0', port: 19101 });
    assert.deepEqual(parseListen('127.0.0.1:0'), { host: '127.0.0.1', port: 0 });
    assert.deepEqual(parseListen('[::1]:8080'), { host: '::1', port: 8080 });
    assert.deepEqual(parseListen(':8080'), { host: '0.0.0.0', port: 8080 });
    assert.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 });
    for (const bad of ['8080', 'host:', 'host:99999', '::1:80', 'a:b', '']) {
      assert.throws(() => parseListen(bad), InvalidArgumentError, bad);
    }
  });

  it('wants durations above zero and whole positive numbers', () => {
    assert.equal(parsePositiveDuration('2s'), 2000);
    assert.throws(() => parsePositiveDuration('0'), /greater than zero/);
    assert.throws(() => parsePositiveDuration('soon'), /invalid duration/);
    assert.equal(parsePositiveInt('32'), 32);
    for (const bad of ['0', '-1', '1.5', 'x', ''])
      assert.throws(() => parsePositiveInt(bad), InvalidArgumentError);
  });
});
