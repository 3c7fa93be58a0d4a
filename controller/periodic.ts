// Runs a task every period, never two at once. A run that outlasts the period is an overrun: the
// next run starts as soon as it ends (not in a burst to catch up), and the overrun is counted.

export interface PeriodicOptions {
  periodMs: number;
  task: () => Promise<void>;
  onOverrun?: (lateByMs: number) => void;
  onError?: (err: unknown) => void;
  now?: () => number;
}

export class PeriodicRunner {
  private running = false;
  private loop: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private wake: (() => void) | undefined;
  private readonly now: () => number;

  constructor(private readonly options: PeriodicOptions) {
    this.now = options.now ?? Date.now;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** Stops scheduling; resolves once the run in progress (if any) has finished. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    this.wake?.();
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = this.now();
      try {
        await this.options.task();
      } catch (err: unknown) {
        this.options.onError?.(err);
      }
      if (!this.running) break;
      const wait = started + this.options.periodMs - this.now();
      if (wait < 0) this.options.onOverrun?.(-wait);
      else await this.pause(wait);
    }
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wake = () => {
        clearTimeout(this.timer);
        this.wake = undefined;
        resolve();
      };
      this.timer = setTimeout(() => this.wake?.(), ms);
    });
  }
}

/** Runs `fn` over `items` with at most `limit` in flight; resolves when all are done. */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++]!;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
