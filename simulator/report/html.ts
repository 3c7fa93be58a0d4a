// report.html: per trace, an SVG chart of unallocated GPU % against arrived workload (mean over
// seeds per policy), and the mean ± sd table. Self-contained: no scripts, no external assets.
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
const W = 720;
const H = 360;
const M = { l: 56, r: 130, t: 20, b: 44 };
const X0 = 70;
const X1 = 130;

export function esc(s: string): string {
  return s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');
}

/** Mean unallocated % per arrived bin over a policy's seeds. */
function meanCurve(runs: readonly RunResult[]): [number, number][] {
  const sum = new Map<number, { s: number; n: number }>();
  for (const r of runs) {
    for (const p of r.curve) {
      const e = sum.get(p.arrivedPct) ?? { s: 0, n: 0 };
      e.s += p.unallocatedPct;
      e.n += 1;
      sum.set(p.arrivedPct, e);
    }
  }
  return [...sum.entries()].sort((a, b) => a[0] - b[0]).map(([x, e]) => [x, e.s / e.n]);
}

export function chartSvg(trace: string, byPolicy: ReadonlyMap<string, readonly RunResult[]>): string {
  const curves = [...byPolicy.entries()].map(([policy, runs]) => ({
    policy,
    pts: meanCurve(runs).filter(([x]) => x >= X0),
  }));
  const yMax = Math.max(5, ...curves.flatMap((c) => c.pts.map(([, y]) => y))) * 1.05;
  const sx = (x: number) => M.l + ((x - X0) / (X1 - X0)) * (W - M.l - M.r);
  const sy = (y: number) => H - M.b - (y / yMax) * (H - M.t - M.b);
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" role="img" aria-label="${esc(trace)}">`,
  );
  for (let x = X0; x <= X1; x += 10) {
    parts.push(`<line x1="${sx(x)}" y1="${M.t}" x2="${sx(x)}" y2="${H - M.b}" stroke="#eee"/>`);
    parts.push(`<text x="${sx(x)}" y="${H - M.b + 16}" font-size="11" text-anchor="middle">${x}</text>`);
  }
  const step = yMax > 20 ? 5 : yMax > 8 ? 2 : 1;
  for (let y = 0; y <= yMax; y += step) {
    parts.push(`<line x1="${M.l}" y1="${sy(y)}" x2="${W - M.r}" y2="${sy(y)}" stroke="#eee"/>`);
    parts.push(`<text x="${M.l - 6}" y="${sy(y) + 4}" font-size="11" text-anchor="end">${y}</text>`);
  }
  parts.push(
    `<line x1="${sx(X0)}" y1="${sy(Math.min(yMax, 100 - X0))}" x2="${sx(100)}" y2="${sy(0)}" stroke="#999" stroke-dasharray="4 3"/>`,
  );
  curves.forEach((c, i) => {
    const color = COLORS[i % COLORS.length]!;
    const d = c.pts
      .map(([x, y], j) => `${j === 0 ? 'M' : 'L'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`)
      .join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<rect x="${W - M.r + 10}" y="${M.t + i * 18}" width="12" height="3" fill="${color}"/>`);
    parts.push(`<text x="${W - M.r + 26}" y="${M.t + i * 18 + 5}" font-size="12">${esc(c.policy)}</text>`);
  });
  parts.push(
    `<text x="${(M.l + W - M.r) / 2}" y="${H - 8}" font-size="12" text-anchor="middle">arrived GPU demand (% of capacity)</text>`,
  );
  parts.push(
    `<text x="14" y="${(M.t + H - M.b) / 2}" font-size="12" text-anchor="middle" transform="rotate(-90 14 ${(M.t + H - M.b) / 2})">unallocated GPU (%)</text>`,
  );
  parts.push('</svg>');
  return parts.join('\n');
}

export function reportHtml(results: readonly RunResult[], rows: readonly SummaryRow[]): string {
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
    return `<section><h2>${esc(trace)}</h2>\n${chartSvg(trace, byPolicy)}\n<table><thead><tr><th>policy</th><th>seeds</th><th>unallocated GPU % at 100% arrived</th><th>allocated GPU % at 130%</th><th>fragmentation rate % at 100%</th><th>failed tasks</th><th>s / seed</th></tr></thead><tbody>\n${table}\n</tbody></table></section>`;
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>loadwise trace simulation</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child{text-align:left}</style>
</head><body>
<h1>GPU placement on the openb traces</h1>
<p>Unallocated GPU (% of capacity) as the arrived GPU demand grows; mean over seeds. Dashed: ideal.</p>
${sections.join('\n')}
</body></html>
`;
}
