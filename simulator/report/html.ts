// report.html: per trace, unallocated GPU against arrived GPU demand — the full run (0–130 %) and,
// beside it, a zoom on 90–110 % where the policies differ by tenths of a percent — with each
// policy's mean over seeds as a line and its min–max over seeds as a band; the mean ± sd table with
// every column explained; and what produced the report (command, traces, seeds, commit), so a
// figure in it can be reproduced. Self-contained: no scripts, no external assets.
import { type RunResult } from '../run.ts';
import { pm, type SummaryRow } from './summary.ts';

const COLORS = [
  '#1f77b4',
  '#ff7f0e',
  '#2ca02c',
  '#d62728',
  '#9467bd',
  '#8c564b',
  '#e377c2',
  '#7f7f7f',
  '#bcbd22',
];
const W = 560;
const H = 340;
const M = { l: 52, r: 16, t: 16, b: 44 };

/** What produced a report; printed at its top. */
export interface Provenance {
  /** The command line, as it could be typed again. */
  command: string;
  nodes: string;
  /** Pod trace files, in the order given. */
  traces: readonly string[];
  seeds: readonly number[];
  /** `git rev-parse HEAD`, with a note when the tree had uncommitted changes; or why there is none. */
  commit: string;
  generatedAt: string;
}

export interface View {
  x0: number;
  x1: number;
  /** Ticks every `step` % arrived. */
  step: number;
  /** Fit the y axis to the data inside [x0, x1] instead of starting at 0. */
  fitY: boolean;
}

export const FULL_VIEW: View = { x0: 0, x1: 130, step: 10, fitY: false };
export const ZOOM_VIEW: View = { x0: 90, x1: 110, step: 5, fitY: true };

export function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

export interface BandPoint {
  x: number;
  mean: number;
  min: number;
  max: number;
}

/** Per arrived bin over a policy's seeds: mean, min and max of the unallocated GPU %. */
export function band(runs: readonly RunResult[]): BandPoint[] {
  const bins = new Map<number, number[]>();
  for (const r of runs) {
    for (const p of r.curve) {
      const values = bins.get(p.arrivedPct) ?? [];
      values.push(p.unallocatedPct);
      bins.set(p.arrivedPct, values);
    }
  }
  return [...bins.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([x, v]) => ({
      x,
      mean: v.reduce((s, y) => s + y, 0) / v.length,
      min: Math.min(...v),
      max: Math.max(...v),
    }));
}

function niceStep(span: number): number {
  const raw = span / 6;
  const p = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw) ?? 10 * p;
}

export function chartSvg(
  trace: string,
  byPolicy: ReadonlyMap<string, readonly RunResult[]>,
  view: View = FULL_VIEW,
): string {
  const curves = [...byPolicy.entries()].map(([policy, runs]) => ({
    policy,
    pts: band(runs).filter((p) => p.x >= view.x0 && p.x <= view.x1),
  }));
  const all = curves.flatMap((c) => c.pts);
  let yMin = 0;
  let yMax = Math.max(5, ...all.map((p) => p.max)) * 1.05;
  if (view.fitY && all.length > 0) {
    const lo = Math.min(...all.map((p) => p.min));
    const hi = Math.max(...all.map((p) => p.max));
    const pad = Math.max(0.5, (hi - lo) * 0.08);
    yMin = Math.max(0, lo - pad);
    yMax = hi + pad;
  }
  const sx = (x: number) => M.l + ((x - view.x0) / (view.x1 - view.x0)) * (W - M.l - M.r);
  const sy = (y: number) => H - M.b - ((y - yMin) / (yMax - yMin)) * (H - M.t - M.b);
  const label = `${trace}: ${view.x0}–${view.x1} % arrived`;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="${esc(label)}">`,
    `<defs><clipPath id="plot-${view.x0}-${view.x1}"><rect x="${M.l}" y="${M.t}" width="${W - M.l - M.r}" height="${H - M.t - M.b}"/></clipPath></defs>`,
  ];
  for (let x = view.x0; x <= view.x1; x += view.step) {
    parts.push(`<line x1="${sx(x)}" y1="${M.t}" x2="${sx(x)}" y2="${H - M.b}" stroke="#eee"/>`);
    parts.push(`<text x="${sx(x)}" y="${H - M.b + 16}" font-size="11" text-anchor="middle">${x}</text>`);
  }
  const step = niceStep(yMax - yMin);
  const digits = step < 1 ? 1 : 0;
  for (let y = Math.ceil(yMin / step) * step; y <= yMax; y += step) {
    parts.push(`<line x1="${M.l}" y1="${sy(y)}" x2="${W - M.r}" y2="${sy(y)}" stroke="#eee"/>`);
    parts.push(
      `<text x="${M.l - 6}" y="${sy(y) + 4}" font-size="11" text-anchor="end">${y.toFixed(digits)}</text>`,
    );
  }
  const clip = `clip-path="url(#plot-${view.x0}-${view.x1})"`;
  // Ideal: every arrived GPU allocated until the cluster is full.
  parts.push(
    `<line ${clip} x1="${sx(view.x0)}" y1="${sy(Math.max(0, 100 - view.x0))}" x2="${sx(Math.min(100, view.x1))}" y2="${sy(Math.max(0, 100 - Math.min(100, view.x1)))}" stroke="#999" stroke-dasharray="4 3"/>`,
  );
  curves.forEach((c, i) => {
    if (c.pts.length === 0) return;
    const color = COLORS[i % COLORS.length]!;
    const upper = c.pts.map((p) => `${sx(p.x).toFixed(1)},${sy(p.max).toFixed(1)}`);
    const lower = c.pts.map((p) => `${sx(p.x).toFixed(1)},${sy(p.min).toFixed(1)}`).reverse();
    parts.push(
      `<polygon class="band" ${clip} points="${[...upper, ...lower].join(' ')}" fill="${color}" fill-opacity="0.15" stroke="none"><title>${esc(c.policy)}: min–max over seeds</title></polygon>`,
    );
    const d = c.pts
      .map((p, j) => `${j === 0 ? 'M' : 'L'}${sx(p.x).toFixed(1)},${sy(p.mean).toFixed(1)}`)
      .join(' ');
    parts.push(
      `<path class="mean" ${clip} d="${d}" fill="none" stroke="${color}" stroke-width="2"><title>${esc(c.policy)}: mean over seeds</title></path>`,
    );
  });
  parts.push(
    `<text x="${(M.l + W - M.r) / 2}" y="${H - 8}" font-size="12" text-anchor="middle">arrived GPU demand (% of capacity)</text>`,
    `<text x="14" y="${(M.t + H - M.b) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${(M.t + H - M.b) / 2})">unallocated GPU (%)</text>`,
    '</svg>',
  );
  return parts.join('\n');
}

function legend(policies: readonly string[]): string {
  return policies
    .map(
      (p, i) => `<span class="key"><i style="background:${COLORS[i % COLORS.length]}"></i>${esc(p)}</span>`,
    )
    .join(' ');
}

/** The table's columns, each explained under it. */
export const COLUMN_NOTES: ReadonlyArray<[string, string]> = [
  [
    'policy',
    'the placement rule replayed (fgd: the extender’s own GPU placement core, `--gpu-policy fgd`; fgd-paper: FGD as the paper’s artifact runs it)',
  ],
  ['seeds', 'runs averaged: each seed shuffles the trace differently'],
  [
    'unallocated GPU % at 100% arrived',
    'when the pods that arrived asked for exactly the cluster’s GPU capacity, the share of that capacity left unallocated (failed pods plus fragments no arriving pod fits); lower is better; mean ± standard deviation over seeds',
  ],
  [
    'allocated GPU % at 130%',
    'the share of GPU capacity allocated once demand reached 130 % of it (the end of a run); higher is better',
  ],
  [
    'fragmentation rate % at 100%',
    'of the idle GPU at 100 % arrived, the share that is fragmented: free but in pieces the typical arriving pod cannot use (FGD’s measure)',
  ],
  ['failed tasks', 'pods that fitted nowhere when they arrived, by the end of the run (mean over seeds)'],
  ['s / seed', 'wall-clock seconds one run took on the machine that made the report (not a benchmark)'],
];

export function reportHtml(
  results: readonly RunResult[],
  rows: readonly SummaryRow[],
  provenance?: Provenance,
): string {
  const traces = [...new Set(results.map((r) => r.trace))];
  const sections = traces.map((trace) => {
    const byPolicy = new Map<string, RunResult[]>();
    for (const r of results.filter((x) => x.trace === trace)) {
      const g = byPolicy.get(r.policy);
      if (g) g.push(r);
      else byPolicy.set(r.policy, [r]);
    }
    const table = rows
      .filter((r) => r.trace === trace)
      .map(
        (r) =>
          `<tr><td>${esc(r.policy)}</td><td>${r.seeds}</td><td>${pm(r.unallocatedAt100)}</td><td>${pm(r.allocatedAt130)}</td><td>${pm(r.fragRateAt100)}</td><td>${r.failedTasks.mean.toFixed(0)}</td><td>${r.secondsPerSeed.mean.toFixed(2)}</td></tr>`,
      )
      .join('\n');
    const head = COLUMN_NOTES.map(([name]) => `<th>${esc(name)}</th>`).join('');
    return `<section><h2>${esc(trace)}</h2>
<div class="charts"><figure>${chartSvg(trace, byPolicy, FULL_VIEW)}<figcaption>the whole run, 0–130 % arrived</figcaption></figure>
<figure>${chartSvg(trace, byPolicy, ZOOM_VIEW)}<figcaption>zoom: 90–110 % arrived, y axis fitted to the data</figcaption></figure></div>
<p class="legend">${legend([...byPolicy.keys()])} · line: mean over seeds · band: min–max over seeds · dashed: ideal</p>
<table><thead><tr>${head}</tr></thead><tbody>
${table}
</tbody></table></section>`;
  });
  const notes = COLUMN_NOTES.map(([name, text]) => `<dt>${esc(name)}</dt><dd>${esc(text)}</dd>`).join('\n');
  const made = provenance
    ? `<table class="prov">
<tr><th>command</th><td><code>${esc(provenance.command)}</code></td></tr>
<tr><th>node list</th><td><code>${esc(provenance.nodes)}</code></td></tr>
<tr><th>traces</th><td>${provenance.traces.map((t) => `<code>${esc(t)}</code>`).join('<br>')}</td></tr>
<tr><th>seeds</th><td>${esc(provenance.seeds.join(', '))}</td></tr>
<tr><th>commit</th><td><code>${esc(provenance.commit)}</code></td></tr>
<tr><th>generated</th><td>${esc(provenance.generatedAt)}</td></tr>
</table>`
    : '';
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>loadwise trace simulation</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
.prov td,.prov th{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:16px}figure{margin:0}figcaption{font-size:12px;color:#555;text-align:center}
.key{margin-right:10px;white-space:nowrap}.key i{display:inline-block;width:14px;height:4px;vertical-align:middle;margin-right:4px}dt{font-weight:600;margin-top:.4em}dd{margin-left:1.5em}</style>
</head><body>
<h1>GPU placement on the openb traces</h1>
<p>Unallocated GPU (% of capacity) as the arrived GPU demand grows: each policy’s mean over seeds (line) and the range its seeds spanned (band).</p>
${made}
${sections.join('\n')}
<h2>Columns</h2>
<dl>
${notes}
</dl>
</body></html>
`;
}
