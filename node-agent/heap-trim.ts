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

/** Slack in production: a few scrapes' worth of garbage is left to V8's own schedule. */
export const HEAP_TRIM_SLACK_BYTES = 4 * 1024 * 1024;

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
