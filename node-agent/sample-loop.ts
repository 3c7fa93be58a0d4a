// Calls `tick` every `intervalMs`, on a schedule that does not drift with the work each tick does.

export class SampleLoop {
  private timer: NodeJS.Timeout | undefined;
  private next = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly tick: () => void,
  ) {}

  start(): void {
    if (this.timer) return;
    this.next = performance.now();
    this.run();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private run = (): void => {
    this.tick();
    this.next += this.intervalMs;
    const now = performance.now();
    // After a long stall (a suspended process), skip the missed ticks instead of bursting them.
    if (this.next < now) this.next = now + this.intervalMs;
    this.timer = setTimeout(this.run, this.next - now);
  };
}
