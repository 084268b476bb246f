/**
 * `tsx bench/tools/low-rate-cpu.ts [--store sqlite|mariadb] [--burst N] [--every MS] [--seconds S] [--warm N]`
 *
 * The server's CPU per job when jobs come in small bursts, as in the bench's spawn rows, where the
 * control plane moves 200–300 jobs/s rather than thousands. One server, 2 simulated workers × 8
 * (no process per job, so nothing else competes for the cores); after a warm-up of `--warm` jobs
 * in SubmitJobs batches of 100, a SubmitJobs call of `--burst` jobs (SubmitJob when 1) every
 * `--every` ms for `--seconds` s. Prints jobs/s, the server's CPU per job and its share of a core
 * over the window (from /proc), and how much of that an idle server uses by itself (measured for
 * 2 s before the first burst, with the same workers connected).
 */
import { parseArgs } from 'node:util';
import { startEdge, submitMany, waitJobsEnded } from '../lib/edge.js';
import { cpuSeconds } from '../lib/procstat.js';
import { sleep } from '../lib/stats.js';
import type { StoreName } from '../lib/stores.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    burst: { type: 'string', default: '4' },
    every: { type: 'string', default: '20' },
    seconds: { type: 'string', default: '10' },
    warm: { type: 'string', default: '3000' },
  },
});
const burst = Number(values.burst);
const every = Number(values.every);
const seconds = Number(values.seconds);
const warmJobs = Number(values.warm);
if (![burst, every, seconds].every((v) => Number.isInteger(v) && v > 0) || !Number.isInteger(warmJobs) || warmJobs < 0) {
  console.error('--burst, --every and --seconds take whole numbers above 0, --warm a whole number');
  process.exit(2);
}

const edge = await startEdge(values.store as StoreName);
try {
  for (let i = 0; i < 2; i++) await edge.startSims({ count: 1, concurrency: 8, namePrefix: `sim${i}` });
  const warm = warmJobs ? await submitMany(edge.apis[0]!, warmJobs, ['bench-noop'], { batch: 100 }) : [];
  await waitJobsEnded(edge.reader, warm.map((s) => s.id), 300_000);
  const pid = edge.servers[0]!.pid;

  const i0 = cpuSeconds(pid);
  await sleep(2000);
  const idleShare = (cpuSeconds(pid) - i0) / 2;

  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  const ids: string[] = [];
  // Bursts start on a fixed schedule: a slow call delays the next one, never adds one.
  for (let next = t0; next - t0 < seconds * 1000; next += every) {
    const sent = await submitMany(edge.apis[0]!, burst, ['bench-noop'], burst > 1 ? { batch: burst } : { inFlight: 1 });
    ids.push(...sent.map((s) => s.id));
    await sleep(Math.max(0, next + every - performance.now()));
  }
  await waitJobsEnded(edge.reader, ids, 120_000, warm.length);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(pid) - c0;
  console.log(
    `${values.store}: bursts of ${burst} every ${every} ms: ${ids.length} jobs in ${elapsed.toFixed(1)} s = ${Math.round(ids.length / elapsed)} jobs/s; ` +
      `server CPU ${((cpu * 1000) / ids.length).toFixed(2)} ms/job, ${Math.round((cpu / elapsed) * 100)}% of a core (idle: ${(idleShare * 100).toFixed(1)}%)`,
  );
} finally {
  await edge.close();
}
