/**
 * Steady state before anything is measured. A fresh Node.js process runs its code unoptimized at
 * first, and V8 optimizes the functions as they get hot: the edge server went on compiling for its
 * first ~10,000 jobs (about 300 ms of compiler time per second of a control-plane run, on a thread
 * beside the event loop), and used 0.46 ms of CPU per job after 1,000 jobs against 0.31 after
 * 12,000. The peers' worker processes and clients are Node.js too. So every measured configuration,
 * the edge's and the peers' alike, first runs its own workload, unmeasured, in rounds, for
 * `--warm-up-ms` (the same time for every system), then is measured. The first round of each
 * submission mode is kept as the cold figure: what a server just started does.
 */

/** One unmeasured round of a configuration's workload: how many jobs, and how fast they went. */
export interface Round {
  jobs: number;
  jobsPerSecond: number;
}

export interface WarmedUp<M extends string> {
  rounds: number;
  jobs: number;
  /** Jobs/s of the first round of each mode: the server and workers as just started. */
  cold: Partial<Record<M, number>>;
}

/**
 * Runs `round` until `ms` have passed, taking the modes in turn (at least one round when ms > 0,
 * none at 0: the bench's figures are then those of a cold start, as before the warm-up existed).
 */
export async function warmUp<M extends string>(ms: number, modes: readonly M[], round: (mode: M) => Promise<Round>): Promise<WarmedUp<M>> {
  const out: WarmedUp<M> = { rounds: 0, jobs: 0, cold: {} };
  const until = performance.now() + ms;
  while (ms > 0 && (out.rounds === 0 || performance.now() < until)) {
    const mode = modes[out.rounds % modes.length]!;
    const r = await round(mode);
    out.cold[mode] ??= r.jobsPerSecond;
    out.rounds++;
    out.jobs += r.jobs;
  }
  return out;
}

/** Jobs/s of `jobs` jobs that took from `startMs` to `endMs`, to a tenth. */
export function rate(jobs: number, startMs: number, endMs: number): number {
  return Math.round((jobs / Math.max(endMs - startMs, 1e-3)) * 1000 * 10) / 10;
}

/** A row's metrics from its configuration's warm-up: the cold figure of its mode, and how much ran before it was measured. */
export function warmedUp<M extends string>(w: WarmedUp<M>, mode: M): Record<string, number> {
  const cold = w.cold[mode];
  return { ...(cold === undefined ? {} : { coldJobsPerSecond: cold }), warmUpRounds: w.rounds, warmUpJobs: w.jobs };
}
