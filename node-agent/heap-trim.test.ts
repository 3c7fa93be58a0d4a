import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { testAgent } from '../test/support/agent.ts';
import { HeapTrim } from './heap-trim.ts';

const MB = 1024 * 1024;

/** A heap double: requests add garbage, a collection leaves the live bytes. */
function fakeHeap(live: number) {
  const heap = { used: live, collections: 0 };
  return {
    heap,
    trim: new HeapTrim({
      collect: () => {
        heap.collections++;
        heap.used = live;
      },
      usedBytes: () => heap.used,
      slackBytes: 4 * MB,
    }),
  };
}

describe('HeapTrim', () => {
  it('collects once at the first tick to learn the live size, then only after growth past the slack', () => {
    const { heap, trim } = fakeHeap(10 * MB);
    assert.equal(trim.maybeCollect(), true);
    heap.used += 3 * MB; // a few scrapes' garbage: left to V8
    assert.equal(trim.maybeCollect(), false);
    heap.used += 14 * MB; // a burst of requests
    assert.equal(trim.maybeCollect(), true);
    assert.equal(heap.used, 10 * MB);
    assert.equal(heap.collections, 2);
  });

  it('over many ticks of bursts, the heap at each tick is back to its live size plus at most the slack', () => {
    const { heap, trim } = fakeHeap(10 * MB);
    for (let tick = 0; tick < 1000; tick++) {
      heap.used += (tick % 7) * MB;
      trim.maybeCollect();
      assert.ok(heap.used <= 14 * MB, `tick ${tick}: ${heap.used / MB} MB`);
    }
  });

  it('does nothing where node was started without --expose-gc', () => {
    let asked = 0;
    const trim = new HeapTrim({ collect: undefined, usedBytes: () => ++asked, slackBytes: MB });
    assert.equal(trim.maybeCollect(), false);
    assert.equal(asked, 0);
  });
});

describe('the agent trims its heap at its sampling tick', () => {
  it('collects at a tick after a burst, and the sample is recorded all the same', () => {
    const { heap, trim } = fakeHeap(10 * MB);
    const { agent, proc, clock } = testAgent(Date.UTC(2026, 10, 22), { heapTrim: trim });
    try {
      proc.setMemory(1000, 400);
      assert.equal(agent.sample(), true);
      assert.equal(heap.collections, 1);
      heap.used += 20 * MB; // requests between ticks
      clock.advance(10_000);
      proc.runFor(1000, 250);
      assert.equal(agent.sample(), true);
      assert.equal(heap.collections, 2);
      assert.equal(agent.statistics()?.windows.cpu_usage_active, 0.25);
    } finally {
      proc.cleanup();
    }
  });
});
