import type { BenchContext } from '../lib/results.js';

/**
 * The workloads shared by the edge and the peers, so that all run the same jobs with the same fleet.
 * `--quick` (the test suite's smoke run) asserts no figure, only that every step runs and reports: its
 * sizes are the smallest that still go through every code path (two worker counts for a chart line,
 * more jobs than slots, several batches), since each job there is CPU the rest of the suite waits for.
 */
export function throughputParams(ctx: BenchContext) {
  return ctx.quick
    ? { workers: [1, 2], concurrency: 4, spawnJobs: 40, noopJobs: 60, batchAt: 2, batch: 20, inFlight: 32, latencyJobs: 10, gapMs: 30, backlogJobs: 100, crowdJobs: 100 }
    : { workers: [1, 2, 4], concurrency: 8, spawnJobs: 600, noopJobs: 1000, batchAt: 2, batch: 100, inFlight: 32, latencyJobs: 150, gapMs: 30, backlogJobs: 20_000, crowdJobs: 10_000 };
}
