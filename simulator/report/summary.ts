// Per trace and policy: mean ± sd over seeds of the headline figures.
import { stats, type Stats } from '../metrics.ts';
import { type RunResult } from '../run.ts';

export interface SummaryRow {
  readonly trace: string;
  readonly policy: string;
  readonly seeds: number;
  readonly unallocatedAt100: Stats;
  readonly allocatedAt130: Stats;
  readonly fragRateAt100: Stats;
  readonly failedTasks: Stats;
  readonly secondsPerSeed: Stats;
}

export function summarize(results: readonly RunResult[]): SummaryRow[] {
  const groups = new Map<string, RunResult[]>();
  for (const r of results) {
    const k = `${r.trace}\u0000${r.policy}`;
    const g = groups.get(k);
    if (g) g.push(r);
    else groups.set(k, [r]);
  }
  return [...groups.values()].map((g) => {
    const first = g[0]!;
    return {
      trace: first.trace,
      policy: first.policy,
      seeds: g.length,
      unallocatedAt100: stats(g.map((r) => r.unallocatedPctAt100)),
      allocatedAt130: stats(g.map((r) => r.allocatedPctAt130)),
      fragRateAt100: stats(g.map((r) => r.fragRatePctAt100)),
      failedTasks: stats(g.map((r) => r.failedTasks)),
      secondsPerSeed: stats(g.map((r) => r.seconds)),
    };
  });
}

export function pm(s: Stats, digits = 2): string {
  return `${s.mean.toFixed(digits)} ± ${s.sd.toFixed(digits)}`;
}

/** The table the CLI prints. */
export function formatTable(rows: readonly SummaryRow[]): string {
  const head = ['trace', 'policy', 'seeds', 'unalloc% @100', 'alloc% @130', 'frag% @100', 'failed', 's/seed'];
  const body = rows.map((r) => [
    r.trace,
    r.policy,
    String(r.seeds),
    pm(r.unallocatedAt100),
    pm(r.allocatedAt130),
    pm(r.fragRateAt100),
    r.failedTasks.mean.toFixed(0),
    r.secondsPerSeed.mean.toFixed(2),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
