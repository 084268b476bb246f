/** Latency summary in milliseconds. */
export interface Summary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

export function summarize(values: number[]): Summary {
  const s = [...values].sort((a, b) => a - b);
  const mean = s.reduce((a, b) => a + b, 0) / (s.length || 1);
  return { n: s.length, p50: r3(percentile(s, 50)), p95: r3(percentile(s, 95)), p99: r3(percentile(s, 99)), max: r3(s[s.length - 1] ?? NaN), mean: r3(mean) };
}

export function median(values: number[]): number {
  const s = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (!s.length) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** The median of each field over repeated summaries (each percentile taken separately). */
export function medianSummary(runs: Summary[]): Summary {
  const pick = (k: keyof Summary) => r3(median(runs.map((r) => r[k])));
  return { n: runs.reduce((a, r) => a + r.n, 0), p50: pick('p50'), p95: pick('p95'), p99: pick('p99'), max: pick('max'), mean: pick('mean') };
}

export function r3(v: number): number {
  return Number.isFinite(v) ? Math.round(v * 1000) / 1000 : v;
}

/**
 * Milliseconds on CLOCK_MONOTONIC. On Linux every process reads the same clock, so stamps taken in
 * the bench, a simulator and a peer's worker process can be subtracted from each other.
 */
export function mono(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** Wall-clock milliseconds with a fraction (the server stamps jobs with Date.now()). */
export function wall(): number {
  return performance.timeOrigin + performance.now();
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
