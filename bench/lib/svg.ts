/** Two small SVG charts drawn from a results file: no chart library, no browser. */
import type { Results, Row } from './results.js';

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#17becf', '#bcbd22'];
const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Series {
  label: string;
  points: [number, number][];
}

interface Axis {
  label: string;
  log?: boolean;
  min: number;
  max: number;
  ticks: number[];
  format?: (v: number) => string;
}

function niceTicks(min: number, max: number, log: boolean): number[] {
  if (log) {
    const out: number[] = [];
    for (let e = Math.floor(Math.log10(min)); e <= Math.ceil(Math.log10(max)); e++) for (const m of [1, 2, 5]) out.push(m * 10 ** e);
    return out.filter((v) => v >= min * 0.999 && v <= max * 1.001);
  }
  const span = max - min || 1;
  const step = 10 ** Math.floor(Math.log10(span / 5));
  const s = [1, 2, 5, 10].map((m) => m * step).find((st) => span / st <= 8)!;
  const out: number[] = [];
  for (let v = Math.ceil(min / s) * s; v <= max + 1e-9; v += s) out.push(Math.round(v * 1e6) / 1e6);
  return out;
}

function lineChart(title: string, series: Series[], x: Axis, y: Axis, opts: { width?: number; height?: number; markers?: boolean } = {}): string {
  const W = opts.width ?? 760;
  const H = opts.height ?? 420;
  const m = { l: 70, r: 230, t: 40, b: 50 };
  const pw = W - m.l - m.r;
  const ph = H - m.t - m.b;
  const sx = (v: number) => m.l + (x.log ? (Math.log10(v) - Math.log10(x.min)) / (Math.log10(x.max) - Math.log10(x.min)) : (v - x.min) / (x.max - x.min || 1)) * pw;
  const sy = (v: number) => m.t + ph - (y.log ? (Math.log10(v) - Math.log10(y.min)) / (Math.log10(y.max) - Math.log10(y.min)) : (v - y.min) / (y.max - y.min || 1)) * ph;
  const fx = x.format ?? ((v: number) => String(v));
  const fy = y.format ?? ((v: number) => String(v));
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<text x="${m.l}" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`);
  for (const t of x.ticks) {
    parts.push(`<line x1="${sx(t)}" y1="${m.t}" x2="${sx(t)}" y2="${m.t + ph}" stroke="#eee"/>`);
    parts.push(`<text x="${sx(t)}" y="${m.t + ph + 16}" text-anchor="middle">${esc(fx(t))}</text>`);
  }
  for (const t of y.ticks) {
    parts.push(`<line x1="${m.l}" y1="${sy(t)}" x2="${m.l + pw}" y2="${sy(t)}" stroke="#eee"/>`);
    parts.push(`<text x="${m.l - 6}" y="${sy(t) + 4}" text-anchor="end">${esc(fy(t))}</text>`);
  }
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
  parts.push(`<text x="${m.l + pw / 2}" y="${H - 12}" text-anchor="middle">${esc(x.label)}</text>`);
  parts.push(`<text transform="translate(16 ${m.t + ph / 2}) rotate(-90)" text-anchor="middle">${esc(y.label)}</text>`);
  series.forEach((s, i) => {
    const c = COLORS[i % COLORS.length];
    const pts = s.points.filter(([a, b]) => Number.isFinite(a) && Number.isFinite(b) && (!x.log || a > 0) && (!y.log || b > 0));
    if (!pts.length) return;
    const d = pts.map(([a, b], j) => `${j ? 'L' : 'M'}${sx(Math.min(Math.max(a, x.min), x.max)).toFixed(1)},${sy(Math.min(Math.max(b, y.min), y.max)).toFixed(1)}`).join(' ');
    parts.push(`<path d="${d}" fill="none" stroke="${c}" stroke-width="2"/>`);
    if (opts.markers) for (const [a, b] of pts) parts.push(`<circle cx="${sx(a).toFixed(1)}" cy="${sy(b).toFixed(1)}" r="3.5" fill="${c}"/>`);
    const ly = m.t + 10 + i * 18;
    parts.push(`<line x1="${m.l + pw + 12}" y1="${ly}" x2="${m.l + pw + 32}" y2="${ly}" stroke="${c}" stroke-width="3"/>`);
    parts.push(`<text x="${m.l + pw + 38}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}

function rowsOf(results: Results, scenario: string): Row[] {
  return results.scenarios.find((s) => s.name === scenario)?.rows ?? [];
}

/** Distribution (percentile against latency, log scale) of submit → received with idle workers. */
export function latencyChart(results: Results): string {
  const series: Series[] = [];
  for (const r of [...rowsOf(results, 'latency'), ...rowsOf(results, 'peers')]) {
    if (!r.cdf) continue;
    if (r.variant.includes('across')) continue;
    const what = r.system === 'edge' ? `edge ${r.store} (sim. worker)` : `${r.system} (${r.variant.includes('spawn') ? 'spawn' : 'no-op'})`;
    series.push({ label: what, points: r.cdf.map((v, p) => [v, p] as [number, number]) });
  }
  const all = series.flatMap((s) => s.points.map((p) => p[0])).filter((v) => v > 0);
  const min = 10 ** Math.floor(Math.log10(Math.max(0.01, Math.min(...all, 1))));
  const max = 10 ** Math.ceil(Math.log10(Math.max(...all, 10)));
  return lineChart(
    'Submit → worker receives, idle workers (distribution)',
    series,
    { label: 'latency, ms (log scale)', log: true, min, max, ticks: niceTicks(min, max, true) },
    { label: 'percentile', min: 0, max: 100, ticks: [0, 25, 50, 75, 90, 99].filter((v) => v <= 100) },
  );
}

/** Jobs/s against worker processes (single submission), one line per system and store. */
export function throughputChart(results: Results, workload: 'spawn' | 'noop'): string {
  const groups = new Map<string, [number, number][]>();
  for (const r of [...rowsOf(results, 'throughput'), ...rowsOf(results, 'peers')]) {
    if (r.jobsPerSecond === undefined || r.params?.workload !== workload || r.params?.mode !== 'single') continue;
    const label = r.system === 'edge' ? `edge ${r.store}` : r.system;
    const pts = groups.get(label) ?? [];
    pts.push([Number(r.params.workers), r.jobsPerSecond]);
    groups.set(label, pts);
  }
  const series = [...groups].map(([label, points]) => ({ label, points: points.sort((a, b) => a[0] - b[0]) }));
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => v > 0);
  const ymin = 10 ** Math.floor(Math.log10(Math.min(...ys, 10)));
  const ymax = 10 ** Math.ceil(Math.log10(Math.max(...ys, 10)));
  const xmax = Math.max(...xs, 2);
  return lineChart(
    `Throughput against worker processes: ${workload === 'spawn' ? 'jobs spawn `true`' : 'no-op jobs (edge: control plane, simulated workers)'}`,
    series,
    { label: 'worker processes (each with the same concurrency)', min: 1, max: xmax, ticks: [...new Set(xs)].sort((a, b) => a - b) },
    { label: 'jobs/s (log scale)', log: true, min: ymin, max: ymax, ticks: niceTicks(ymin, ymax, true) },
    { markers: true },
  );
}

/**
 * Heartbeat round trip (p50, p99, ms) and the server's peak RSS (MiB, the largest replica's) against
 * the fleet size, both on one log scale: the fleet scenario's rows that measured something.
 */
export function fleetChart(results: Results): string {
  const rows = rowsOf(results, 'fleet')
    .filter((r) => r.metrics && typeof r.metrics.serverRssMiB === 'number')
    .sort((a, b) => Number(a.params?.workers) - Number(b.params?.workers));
  const at = (f: (r: Row) => number) => rows.map((r) => [Number(r.params?.workers), f(r)] as [number, number]);
  const series: Series[] = [
    { label: 'heartbeat p50, ms', points: at((r) => r.latency?.heartbeat?.p50 ?? NaN) },
    { label: 'heartbeat p99, ms', points: at((r) => r.latency?.heartbeat?.p99 ?? NaN) },
    { label: 'server RSS peak, MiB', points: at((r) => Number(r.metrics!.serverRssMiB)) },
  ];
  const xs = rows.map((r) => Number(r.params?.workers));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((v) => Number.isFinite(v) && v > 0);
  const xmin = 10 ** Math.floor(Math.log10(Math.min(...xs, 100)));
  const xmax = 10 ** Math.ceil(Math.log10(Math.max(...xs, 1000)));
  const ymin = 10 ** Math.floor(Math.log10(Math.min(...ys, 1)));
  const ymax = 10 ** Math.ceil(Math.log10(Math.max(...ys, 1000)));
  return lineChart(
    'Fleet: heartbeat round trip and server memory against connected workers (MariaDB)',
    series,
    { label: 'simulated workers (log scale; two replicas above 10,000)', log: true, min: xmin, max: xmax, ticks: niceTicks(xmin, xmax, true), format: (v) => v.toLocaleString('en') },
    { label: 'ms or MiB (log scale)', log: true, min: ymin, max: ymax, ticks: niceTicks(ymin, ymax, true) },
    { markers: true },
  );
}
