// The real-load report: summary.csv (one row per offered load × policy × seed) and report.html
// (per offered load, the mean over seeds per policy, with bars for hot node-minutes and p99 wait).
import { cell } from '../report/csv.ts';
import { esc } from '../report/html.ts';
import type { RealLoadResult } from './engine.ts';

const COLUMNS: readonly [string, (r: RealLoadResult) => number | string][] = [
  ['offered_load_pct', (r) => r.offeredLoadPct],
  ['policy', (r) => r.policy],
  ['seed', (r) => r.seed],
  ['nodes', (r) => r.nodes],
  ['hot80_node_minutes', (r) => r.hot80NodeMinutes],
  ['hot95_node_minutes', (r) => r.hot95NodeMinutes],
  ['node_minutes', (r) => r.nodeMinutes],
  ['mean_node_cpu_pct', (r) => r.meanNodeCpuPct],
  ['p99_node_cpu_pct', (r) => r.p99NodeCpuPct],
  ['arrived', (r) => r.arrived],
  ['placed', (r) => r.placed],
  ['waited', (r) => r.waited],
  ['wait_p50_s', (r) => r.waitP50S],
  ['wait_p99_s', (r) => r.waitP99S],
  ['pending_at_end', (r) => r.pendingAtEnd],
  ['patches_per_node_hour', (r) => r.patchesPerNodeHour],
  ['seconds', (r) => r.seconds],
];

function text(v: number | string): string {
  return typeof v === 'string' ? cell(v) : Number.isInteger(v) ? String(v) : v.toFixed(2);
}

export function realLoadCsv(results: readonly RealLoadResult[]): string {
  const rows = results.map((r) => COLUMNS.map(([, get]) => text(get(r))).join(','));
  return [COLUMNS.map(([name]) => name).join(','), ...rows].join('\n') + '\n';
}

/** Mean over seeds of one policy at one offered load. */
export interface RealLoadRow {
  offeredLoadPct: number;
  policy: string;
  seeds: number;
  hot80: number;
  hot95: number;
  p99Cpu: number;
  placed: number;
  waited: number;
  waitP50: number;
  waitP99: number;
  patchesPerNodeHour: number;
}

export function summarizeRealLoad(results: readonly RealLoadResult[]): RealLoadRow[] {
  const groups = new Map<string, RealLoadResult[]>();
  for (const r of results) {
    const key = `${r.offeredLoadPct}\u0000${r.policy}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  return [...groups.values()].map((g) => {
    const mean = (get: (r: RealLoadResult) => number) => g.reduce((s, r) => s + get(r), 0) / g.length;
    return {
      offeredLoadPct: g[0]!.offeredLoadPct,
      policy: g[0]!.policy,
      seeds: g.length,
      hot80: mean((r) => r.hot80NodeMinutes),
      hot95: mean((r) => r.hot95NodeMinutes),
      p99Cpu: mean((r) => r.p99NodeCpuPct),
      placed: mean((r) => r.placed),
      waited: mean((r) => r.waited),
      waitP50: mean((r) => r.waitP50S),
      waitP99: mean((r) => r.waitP99S),
      patchesPerNodeHour: mean((r) => r.patchesPerNodeHour),
    };
  });
}

const HEAD = [
  'offered load',
  'policy',
  'seeds',
  'node-min > 80 % CPU',
  'node-min > 95 % CPU',
  'p99 node CPU %',
  'pods placed',
  'pods waiting',
  'wait p50 s',
  'wait p99 s',
  'PATCH / node / h',
];

function cells(r: RealLoadRow): string[] {
  return [
    `${r.offeredLoadPct} %`,
    r.policy,
    String(r.seeds),
    r.hot80.toFixed(1),
    r.hot95.toFixed(1),
    r.p99Cpu.toFixed(1),
    r.placed.toFixed(0),
    r.waited.toFixed(0),
    r.waitP50.toFixed(0),
    r.waitP99.toFixed(0),
    r.patchesPerNodeHour.toFixed(1),
  ];
}

/** The table as Markdown, for the terminal and the README. */
export function realLoadTable(rows: readonly RealLoadRow[]): string {
  const line = (c: string[]) => `| ${c.join(' | ')} |`;
  return [line(HEAD), line(HEAD.map(() => '---')), ...rows.map((r) => line(cells(r)))].join('\n');
}

/** Horizontal bars of one figure per policy, scaled to the largest. */
function bars(title: string, rows: readonly RealLoadRow[], get: (r: RealLoadRow) => number): string {
  const max = Math.max(1e-9, ...rows.map(get));
  const h = 22;
  const parts = rows.map((r, i) => {
    const w = (get(r) / max) * 300;
    const y = 24 + i * h;
    return `<text x="0" y="${y + 14}" font-size="12">${esc(r.policy)}</text><rect x="90" y="${y + 3}" width="${w.toFixed(1)}" height="14" fill="#1f77b4"/><text x="${(96 + w).toFixed(1)}" y="${y + 14}" font-size="12">${get(r).toFixed(1)}</text>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="460" height="${30 + rows.length * h}" role="img" aria-label="${esc(title)}"><text x="0" y="14" font-size="13" font-weight="bold">${esc(title)}</text>${parts.join('')}</svg>`;
}

export function realLoadHtml(rows: readonly RealLoadRow[], setup: string): string {
  const loads = [...new Set(rows.map((r) => r.offeredLoadPct))];
  const sections = loads.map((load) => {
    const at = rows.filter((r) => r.offeredLoadPct === load);
    const body = at
      .map(
        (r) =>
          `<tr>${cells(r)
            .map((c) => `<td>${esc(c)}</td>`)
            .join('')}</tr>`,
      )
      .join('\n');
    return `<section><h2>${load} % offered load</h2>
${bars('node-minutes above 80 % real CPU', at, (r) => r.hot80)}
${bars('p99 pod wait (s)', at, (r) => r.waitP99)}
<table><thead><tr>${HEAD.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>
${body}
</tbody></table></section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>loadwise real-load simulation</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:nth-child(2),th:nth-child(2){text-align:left}svg{display:block;margin:0.5em 0}</style>
</head><body>
<h1>Scheduling on real load: PAI 2020 requests vs real use</h1>
<p>${esc(setup)} Means over seeds.</p>
${sections.join('\n')}
</body></html>
`;
}
