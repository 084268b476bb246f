import v8 from 'node:v8';

/**
 * How far V8 lets the old generation grow past what the last full collection kept, in percent.
 * V8's own factor goes up to 4×: with 10,000 workers the server kept about 200 MiB live yet grew to
 * 1.1 GiB of RSS between full collections, the old space filling with per-call objects (handler
 * contexts, HTTP/2 request and response objects) that V8 allocates there once calls lived long during
 * the fleet's connection storm. At 1.5× the peak was 500–677 MiB in 5 runs, with a full collection
 * every few seconds (mostly concurrent; pauses of 20–40 ms). docs/performance.md, "Issue 16, third pass".
 */
export const HEAP_GROWING_PERCENT = 50;

/**
 * Sets V8's heap growth for this process, unless the operator chose one (`node --heap-growing-percent=N`).
 * Returns whether it was set here.
 */
export function boundHeapGrowth(execArgv: readonly string[] = process.execArgv): boolean {
  if (execArgv.some((a) => /^--heap[-_]growing[-_]percent\b/.test(a))) return false;
  v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
  return true;
}
