/**
 * End-to-end throughput of the edge: W workers × C concurrency, submitted by one client with up to 32
 * SubmitJob calls in flight ("single"), or in SubmitJobs calls of `batch` jobs, one after the other
 * ("batch"). Two workloads: real `edge worker` processes spawning `true`, and the control plane
 * alone, where simulated workers (bench/sim, one process per worker) complete each job without
 * running anything. Jobs/s = jobs / (last job's end − first submit). CPU per job (from /proc, over
 * the same window): the server's, the worker processes' own (their job processes excluded), and
 * those job processes' (reaped children). And a backlog: thousands of jobs queued before the
 * simulated workers connect, drained (measureBacklog); and a crowded queue: the control plane's batch
 * row beside thousands of another team's jobs waiting in the same queue (`crowd`).
 */
import { TokenKind } from '../../gen/edge/v1/token_service_pb.js';
import { connectApi } from '../../worker-cli/src/lib/api.js';
import { startEdge, submitMany, waitJobsEnded, type EdgeCluster } from '../lib/edge.js';
import type { BenchContext, Row, Scenario } from '../lib/results.js';
import { cpuPerJob } from '../lib/procstat.js';
import { median, medianSummary, summarize, wall, type Summary } from '../lib/stats.js';
import type { StoreName } from '../lib/stores.js';
import { rate, warmUp, warmedUp } from '../lib/warm-up.js';
import { throughputParams } from './params.js';

type Workload = 'spawn' | 'noop';

/**
 * With `crowd`, that many jobs of another team (no worker of theirs connects) wait in the queue
 * throughout, as where teams share a queue name: claims must not step over them (migration 0009).
 */
async function measure(store: StoreName, workload: Workload, workers: number, ctx: BenchContext, modes: ('single' | 'batch')[], crowd = 0): Promise<Row[]> {
  const p = throughputParams(ctx);
  const n = workload === 'spawn' ? p.spawnJobs : p.noopJobs;
  const argv = workload === 'spawn' ? ['true'] : ['bench-noop'];
  const edge = await startEdge(store);
  const rows: Row[] = [];
  try {
    if (crowd) await submitForAnotherTeam(edge, crowd);
    if (workload === 'spawn') await edge.startWorkers(workers, p.concurrency);
    else for (let i = 0; i < workers; i++) await edge.startSims({ count: 1, concurrency: p.concurrency, namePrefix: `sim${i}` });
    let already = 0;
    /** One round of n jobs in this mode, to their ends. */
    const round = async (mode: 'single' | 'batch') => {
      const t0 = wall();
      const sent = await submitMany(edge.apis[0]!, n, argv, mode === 'batch' ? { batch: p.batch } : { inFlight: p.inFlight });
      const times = await waitJobsEnded(edge.reader, sent.map((s) => s.id), 300_000, already);
      already += n;
      const last = Math.max(...[...times.values()].map((t) => t.endedAt));
      return { sent, times, jobs: n, jobsPerSecond: rate(n, t0, last) };
    };
    // The crowded row is compared with the plain batch row, which runs on a server warmed by the single row: one round at least.
    const warm = await warmUp(crowd ? Math.max(ctx.warmUpMs, 1) : ctx.warmUpMs, modes, round);
    for (const mode of modes) {
      const runs: number[] = [];
      const lat: Summary[] = [];
      const cpu: { server: number[]; worker: number[]; children: number[] } = { server: [], worker: [], children: [] };
      for (let rep = 0; rep < ctx.repeats; rep++) {
        const serverCpu = cpuPerJob(edge.servers.map((s) => s.pid));
        const workerCpu = cpuPerJob(workload === 'spawn' ? edge.workers.map((w) => w.pid) : edge.sims.map((s) => s.pid));
        const { sent, times, jobsPerSecond } = await round(mode);
        const w = workerCpu.perJob(n);
        cpu.server.push(serverCpu.perJob(n).selfMs);
        cpu.worker.push(w.selfMs);
        cpu.children.push(w.childrenMs);
        runs.push(jobsPerSecond);
        lat.push(summarize(sent.map((s) => times.get(s.id)!.endedAt - s.wall)));
        const failed = [...times.values()].filter((t) => t.state !== 'SUCCEEDED').length;
        if (failed) ctx.log(`throughput: ${failed} of ${n} jobs did not succeed`);
      }
      rows.push({
        scenario: 'throughput',
        system: 'edge',
        store,
        variant: `${workload === 'spawn' ? 'spawn true' : 'control plane (simulated workers)'}, ${mode} submission${crowd ? `, beside ${crowd} jobs of another team in the queue` : ''}`,
        params: { workload, workers, concurrency: p.concurrency, jobs: n, mode: crowd ? `${mode}, crowded` : mode, ...(crowd ? { crowd } : {}) },
        jobsPerSecond: median(runs),
        runs,
        latency: { 'submit→end under load': medianSummary(lat) },
        // Simulated workers are one bench process for all of them, so their figure is not a real worker's.
        metrics: {
          serverCpuMsPerJob: median(cpu.server),
          [workload === 'spawn' ? 'workerCpuMsPerJob' : 'simCpuMsPerJob']: median(cpu.worker),
          ...(workload === 'spawn' ? { jobProcessCpuMsPerJob: median(cpu.children) } : {}),
          ...warmedUp(warm, mode),
        },
      });
      ctx.log(
        `throughput: edge ${store} ${workload} W=${workers} ${mode}${crowd ? ` beside ${crowd} jobs of another team` : ''}: ${median(runs)} jobs/s (${runs.join(', ')}); ` +
          `CPU ms/job server ${median(cpu.server)}, ${workload === 'spawn' ? 'workers' : 'simulated workers'} ${median(cpu.worker)}` +
          (workload === 'spawn' ? `, job processes ${median(cpu.children)}` : ''),
      );
    }
  } finally {
    await edge.close();
  }
  return rows;
}

/** Jobs of team `other` in the default queue, submitted with that team's own admin token. */
export async function submitForAnotherTeam(edge: EdgeCluster, n: number): Promise<void> {
  const { secret } = await edge.apis[0]!.tokens.createToken({ kind: TokenKind.ADMIN, name: 'bench: another team', team: 'other' });
  const other = connectApi(edge.servers[0]!.url, secret);
  try {
    await submitMany(other, n, ['bench-noop'], { batch: 500 });
  } finally {
    other.close();
  }
}

/**
 * A backlog: `backlogJobs` jobs submitted (SubmitJobs calls of 500) before any worker is connected,
 * then 2 simulated workers × C drain it. Jobs/s = jobs / (last job's end − the workers' start); the
 * server's CPU over the same window. One run per store: the queue's depth is the point, and
 * filling it takes most of the time.
 */
async function measureBacklog(store: StoreName, ctx: BenchContext): Promise<Row> {
  const p = throughputParams(ctx);
  const n = p.backlogJobs;
  const edge = await startEdge(store);
  try {
    // Warmed up on a queue of its own, by simulated workers that then stop: the backlog must be queued before any worker of its queue connects.
    const warmSims = [];
    for (let i = 0; i < (ctx.warmUpMs > 0 ? 2 : 0); i++) warmSims.push(await edge.startSims({ count: 1, concurrency: p.concurrency, queue: 'warm-up', namePrefix: `warm${i}` }));
    let already = 0;
    const warm = await warmUp(ctx.warmUpMs, ['batch'], async () => {
      const t0 = wall();
      const sent = await submitMany(edge.apis[0]!, p.noopJobs, ['bench-noop'], { batch: p.batch }, 'warm-up');
      const times = await waitJobsEnded(edge.reader, sent.map((s) => s.id), 300_000, already);
      already += p.noopJobs;
      return { jobs: p.noopJobs, jobsPerSecond: rate(p.noopJobs, t0, Math.max(...[...times.values()].map((t) => t.endedAt))) };
    });
    await Promise.all(warmSims.map((s) => s.stop()));
    const sent = await submitMany(edge.apis[0]!, n, ['bench-noop'], { batch: 500 });
    const serverCpu = cpuPerJob(edge.servers.map((s) => s.pid));
    const t0 = wall();
    for (let i = 0; i < 2; i++) await edge.startSims({ count: 1, concurrency: p.concurrency, namePrefix: `sim${i}` });
    const simCpu = cpuPerJob(edge.sims.map((s) => s.pid));
    const times = await waitJobsEnded(edge.reader, sent.map((s) => s.id), 600_000, already);
    const last = Math.max(...[...times.values()].map((t) => t.endedAt));
    const jobsPerSecond = rate(n, t0, last);
    const failed = [...times.values()].filter((t) => t.state !== 'SUCCEEDED').length;
    if (failed) ctx.log(`throughput: backlog: ${failed} of ${n} jobs did not succeed`);
    const server = serverCpu.perJob(n).selfMs;
    ctx.log(`throughput: edge ${store} backlog of ${n} drained by 2 simulated workers: ${jobsPerSecond} jobs/s; CPU ms/job server ${server}`);
    return {
      scenario: 'throughput',
      system: 'edge',
      store,
      variant: `control plane (simulated workers), draining a backlog of ${n}`,
      params: { workload: 'noop', workers: 2, concurrency: p.concurrency, jobs: n, mode: 'backlog' },
      jobsPerSecond,
      runs: [jobsPerSecond],
      // Its warm-up ran other jobs (batches on another queue): the row has no cold figure of its own.
      metrics: { serverCpuMsPerJob: server, simCpuMsPerJob: simCpu.perJob(n).selfMs, warmUpRounds: warm.rounds, warmUpJobs: warm.jobs },
    };
  } finally {
    await edge.close();
  }
}

export const throughput: Scenario = {
  name: 'throughput',
  describe: 'edge end-to-end jobs/s, W workers × C concurrency, spawn `true` and control plane, and a backlog drained',
  async run(ctx) {
    const p = throughputParams(ctx);
    const rows: Row[] = [];
    // The cluster row (the MariaDB row on a three-node Galera cluster) costs a cluster start: full runs only.
    const stores = ctx.stores ?? (ctx.quick ? ['sqlite', 'mariadb'] : ['sqlite', 'mariadb', 'galera']);
    for (const store of stores) {
      for (const workload of ['spawn', 'noop'] as const) {
        for (const w of p.workers) rows.push(...(await measure(store, workload, w, ctx, w === p.batchAt ? ['single', 'batch'] : ['single'])));
      }
      if (store !== 'galera') rows.push(await measureBacklog(store, ctx), ...(await measure(store, 'noop', 2, ctx, ['batch'], p.crowdJobs)));
    }
    return rows;
  },
};
