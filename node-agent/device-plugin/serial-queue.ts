// The one queue that Allocate and the sweep share: one of them at a time, in arrival order, so two
// concurrent Allocates never pick the same pod and a sweep never frees what an Allocate is
// recording. A failed task does not stop the ones after it.
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  /** Runs `task` after everything queued before it; its own result or error goes to the caller. */
  run<T>(task: () => T | PromiseLike<T>): Promise<T> {
    const work = this.tail.then(task);
    this.tail = work.catch(() => undefined);
    return work;
  }

  /** Resolves once everything queued so far has finished (never rejects). */
  idle(): Promise<unknown> {
    return this.tail.catch(() => undefined);
  }
}
