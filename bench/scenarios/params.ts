import type { BenchContext } from '../lib/results.js';

/** The workloads shared by the edge and the peers, so that all run the same jobs with the same fleet. */
export function throughputParams(ctx: BenchContext) {
  return ctx.quick
    ? { workers: [1, 2], concurrency: 4, spawnJobs: 80, noopJobs: 150, batchAt: 2, batch: 50, inFlight: 32, latencyJobs: 20, gapMs: 30 }
    : { workers: [1, 2, 4], concurrency: 8, spawnJobs: 600, noopJobs: 1000, batchAt: 2, batch: 100, inFlight: 32, latencyJobs: 150, gapMs: 30 };
}
