// summary.csv (one row per trace × policy × seed, columns fixed by the issue) and curves.csv.
import { type RunResult } from '../run.ts';

export const SUMMARY_COLUMNS = [
  'trace',
  'policy',
  'seed',
  'unallocated_pct_at_100',
  'allocated_pct_at_130',
  'frag_rate_at_100',
  'failed_tasks',
] as const;

function num(v: number): string {
  return Number.isFinite(v) ? v.toFixed(4) : '';
}

export function cell(v: string): string {
  return /[",\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v;
}

export function summaryCsv(results: readonly RunResult[]): string {
  const rows = results.map((r) =>
    [
      cell(r.trace),
      cell(r.policy),
      String(r.seed),
      num(r.unallocatedPctAt100),
      num(r.allocatedPctAt130),
      num(r.fragRatePctAt100),
      String(r.failedTasks),
    ].join(','),
  );
  return [SUMMARY_COLUMNS.join(','), ...rows].join('\n') + '\n';
}

export function curvesCsv(results: readonly RunResult[]): string {
  const head =
    'trace,policy,seed,arrived_pct,allocated_pct,unallocated_pct,frag_gpus,frag_rate_pct,failed_tasks';
  const rows: string[] = [];
  for (const r of results) {
    for (const p of r.curve) {
      rows.push(
        [
          cell(r.trace),
          cell(r.policy),
          String(r.seed),
          String(p.arrivedPct),
          num(p.allocatedPct),
          num(p.unallocatedPct),
          num(p.fragGpus),
          num(p.fragRatePct),
          String(p.failedTasks),
        ].join(','),
      );
    }
  }
  return [head, ...rows].join('\n') + '\n';
}
