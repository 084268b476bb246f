/**
 * Dispatch latency with idle workers: jobs are submitted one at a time, far enough apart that the
 * workers are idle when each arrives. Simulated workers (bench/sim) give submit → received,
 * → RUNNING and → SUCCEEDED on one monotonic clock; real `edge worker` processes running `true` give
 * submit → RUNNING and → SUCCEEDED from the server's timestamps (whole milliseconds). Each after a
 * warm-up (bench/lib/warm-up.ts) of rounds of jobs submitted 8 at a time.
 */
import { cdf } from '../lib/cdf.js';
import { startEdge, submit, submitMany, waitJobsEnded, waitUntil, type Submitted } from '../lib/edge.js';
import type { BenchContext, Row, Scenario } from '../lib/results.js';
import { medianSummary, mono, sleep, summarize, wall, type Summary } from '../lib/stats.js';
import type { StoreName } from '../lib/stores.js';
import { rate, warmUp } from '../lib/warm-up.js';

/** Jobs per warm-up round, submitted 8 at a time: the submit, dispatch and report paths the measured jobs take. */
const warmUpRound = (ctx: BenchContext) => (ctx.quick ? 20 : 200);

interface SimReceipt {
  id: string;
  recv: number;
  done?: number;
  failed?: boolean;
}

async function simLatency(store: StoreName, replicas: 1 | 2, ctx: BenchContext, jobs: number, gapMs: number) {
  const edge = await startEdge(store, { replicas });
  try {
    // The worker is connected to the last replica; jobs are submitted to the first.
    const sim = await edge.startSims({ count: 1, concurrency: 4, servers: [replicas - 1] });
    const round = warmUpRound(ctx);
    await warmUp(ctx.warmUpMs, ['single'], async () => {
      const t0 = mono();
      await submitMany(edge.apis[0]!, round, ['bench-noop'], { inFlight: 8 });
      let received = 0;
      await waitUntil(async () => (received += (await sim.call<SimReceipt[]>({ type: 'take' })).length) >= round, 60_000, 'warm-up jobs');
      return { jobs: round, jobsPerSecond: rate(round, t0, mono()) };
    });
    // The warm-up's last reports reach the server before the first measured submit.
    await sleep(gapMs);
    // Like the real worker with a job that ends at once, the simulated one sends no RUNNING report:
    // its end (which carries the start) is what there is to time after the receipt.
    const keys = ['received', 'succeeded'] as const;
    const runs: Record<(typeof keys)[number], Summary[]> = { received: [], succeeded: [] };
    let all: number[] = [];
    for (let rep = 0; rep < ctx.repeats; rep++) {
      const sent: Submitted[] = [];
      for (let i = 0; i < jobs; i++) {
        sent.push(await submit(edge.apis[0]!, ['bench-noop']));
        await sleep(gapMs);
      }
      let receipts: SimReceipt[] = [];
      await waitUntil(async () => (receipts.push(...(await sim.call<SimReceipt[]>({ type: 'take' }))), receipts.length >= jobs), 60_000, 'simulated jobs');
      const failed = receipts.filter((r) => r.failed).length;
      if (failed) ctx.log(`latency: ${failed} of ${jobs} simulated jobs could not be reported`);
      const byId = new Map(receipts.map((r) => [r.id, r]));
      const lat = { received: [] as number[], succeeded: [] as number[] };
      for (const s of sent) {
        const r = byId.get(s.id);
        if (!r) continue;
        lat.received.push(r.recv - s.mono);
        if (r.done) lat.succeeded.push(r.done - s.mono);
      }
      for (const k of keys) runs[k].push(summarize(lat[k]));
      all = all.concat(lat.received);
    }
    return { latency: Object.fromEntries(keys.map((k) => [k, medianSummary(runs[k])])), cdf: cdf(all) };
  } finally {
    await edge.close();
  }
}

async function realLatency(store: StoreName, ctx: BenchContext, jobs: number, gapMs: number) {
  const edge = await startEdge(store);
  try {
    await edge.startWorkers(1, 4);
    let already = 0;
    const round = warmUpRound(ctx);
    await warmUp(ctx.warmUpMs, ['single'], async () => {
      const t0 = wall();
      const sent = await submitMany(edge.apis[0]!, round, ['true'], { inFlight: 8 });
      const times = await waitJobsEnded(edge.reader, sent.map((s) => s.id), 60_000, already);
      already += round;
      return { jobs: round, jobsPerSecond: rate(round, t0, Math.max(...[...times.values()].map((t) => t.endedAt))) };
    });
    const running: Summary[] = [];
    const succeeded: Summary[] = [];
    for (let rep = 0; rep < ctx.repeats; rep++) {
      const sent: Submitted[] = [];
      for (let i = 0; i < jobs; i++) {
        sent.push(await submit(edge.apis[0]!, ['true']));
        await sleep(gapMs);
      }
      const times = await waitJobsEnded(edge.reader, sent.map((s) => s.id), 60_000, already);
      already += jobs;
      running.push(summarize(sent.map((s) => times.get(s.id)!.startedAt - s.wall)));
      succeeded.push(summarize(sent.map((s) => times.get(s.id)!.endedAt - s.wall)));
    }
    return { latency: { running: medianSummary(running), succeeded: medianSummary(succeeded) } };
  } finally {
    await edge.close();
  }
}

export const latency: Scenario = {
  name: 'latency',
  describe: 'dispatch latency, idle workers: submit → received / RUNNING / SUCCEEDED',
  async run(ctx) {
    const jobs = ctx.quick ? 10 : 150;
    const gap = 30;
    const rows: Row[] = [];
    for (const store of ['sqlite', 'mariadb'] as const) {
      // Replicas share one MySQL/MariaDB; SQLite is the single-server embedded store.
      for (const replicas of store === 'mariadb' ? ([1, 2] as const) : ([1] as const)) {
        ctx.log(`latency: ${store}, simulated worker, ${replicas === 1 ? 'same replica' : 'across two replicas'}`);
        const r = await simLatency(store, replicas, ctx, jobs, gap);
        rows.push({
          scenario: 'latency',
          system: 'edge',
          store,
          variant: replicas === 1 ? 'same replica, control plane (simulated worker)' : 'across 2 replicas, control plane (simulated worker)',
          params: { jobs, gapMs: gap, replicas },
          ...r,
        });
      }
      ctx.log(`latency: ${store}, real worker running true`);
      const r = await realLatency(store, ctx, jobs, gap);
      rows.push({ scenario: 'latency', system: 'edge', store, variant: 'same replica, edge worker spawning true', params: { jobs, gapMs: gap }, ...r });
    }
    return rows;
  },
};
