// The one line `npm start` prints when it stops, whatever stopped it (a signal, --duration, a
// grace period that ran out): why, after how long, what the demo workload did, and whether the
// temporary folder is gone — so a user who pressed Ctrl-C knows nothing is left behind.
import type { DemoCounts } from './demo-workload.ts';

export function formatElapsed(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

export function stopSummary(opts: {
  /** `SIGINT`, `SIGTERM`, or `--duration`. */
  reason: string;
  elapsedMs: number;
  counts: DemoCounts;
  /** The temporary folder, when it could not be removed (the grace period ran out first). */
  leftBehind?: string;
}): string {
  const c = opts.counts;
  const tail = opts.leftBehind
    ? `some parts did not close in time; ${opts.leftBehind} may remain`
    : 'everything stopped, temporary files removed';
  return (
    `loadwise stopped (${opts.reason}) after ${formatElapsed(opts.elapsedMs)}: demo pods ` +
    `${c.submitted} submitted, ${c.bound} bound, ${c.unschedulable} unschedulable, ` +
    `${c.startFailed} failed to start; ${tail}\n`
  );
}
