// Returns the garbage of a burst of requests to the system at the next sampling tick. V8 collects
// its old generation only when that generation reaches a limit set after the last full collection,
// and an idle process never gets there: every request promotes a little garbage (its objects
// outlive two scavenges on the agent's small young generation), so after a burst of scrapes the
// heap — and the RSS — stays grown until some later burst. Measured (`npm run bench -- agent`):
// live heap ~10 MB, heap after 16,500 requests ~27 MB, with nothing retained. One full collection
// when the heap has grown well past what the last one kept costs a few milliseconds every few
// sampling ticks at most, and keeps the agent at its live size on every node.
import v8 from 'node:v8';

export interface HeapTrimOptions {
  /** A full collection; undefined when the process was started without `--expose-gc` (tests, tsx). */
  collect: (() => void) | undefined;
  /** Bytes of the heap in use now. */
  usedBytes: () => number;
  /** Growth over what the last collection kept that is worth a collection. */
  slackBytes: number;
}

/**
 * Slack in production. A sample allocates little, so at 1 MB a collection comes every ~100 ticks
 * (~16 min at 10 s; 90 in a simulated day) and each costs tens of milliseconds at a tick, outside
 * any request; at 4 MB the heap sat up to 4 MB above its live size (measured: 0.6 MB more RSS
 * after a day, ~3 MB more after a burst of scrapes).
 */
export const HEAP_TRIM_SLACK_BYTES = 1 * 1024 * 1024;

export class HeapTrim {
  /** Heap in use after the last collection this class asked for (0 before the first). */
  private kept = 0;

  constructor(private readonly opts: HeapTrimOptions) {}

  /** Collects when the heap grew past the slack; true when it did. Call between samples, not in a request. */
  maybeCollect(): boolean {
    const { collect, usedBytes, slackBytes } = this.opts;
    if (!collect) return false;
    if (this.kept > 0 && usedBytes() <= this.kept + slackBytes) return false;
    collect();
    this.kept = usedBytes();
    return true;
  }
}

/** The process's own heap: collects through `gc` where node was started with `--expose-gc` (the image is). */
export function processHeapTrim(): HeapTrim {
  return new HeapTrim({
    collect: (globalThis as { gc?: () => void }).gc,
    usedBytes: () => v8.getHeapStatistics().used_heap_size,
    slackBytes: HEAP_TRIM_SLACK_BYTES,
  });
}
