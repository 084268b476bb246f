import { percentile } from './stats.js';

/** Percentiles 0, 1, …, 100 of the values: enough to draw the distribution. */
export function cdf(values: number[]): number[] {
  const s = [...values].sort((a, b) => a - b);
  return Array.from({ length: 101 }, (_, p) => Math.round((p === 0 ? s[0]! : percentile(s, p)) * 1000) / 1000);
}
