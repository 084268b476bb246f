/**
 * The peers on the same machine in the same run with the same workload as the edge: BullMQ on the
 * local Redis and graphile-worker on the local PostgreSQL, W worker processes × C concurrency each,
 * handlers that spawn `true` or return at once. Throughput from the first enqueue to the last
 * handler's end; latency (enqueue → handler start, → handler end) with idle workers; both after the
 * same warm-up as the edge's (bench/lib/warm-up.ts). CPU per job of the worker processes (their
 * spawned `true` excluded, and those apart), like the edge's rows.
 */
import { Queue } from 'bullmq';
import pg from 'pg';
import { Logger, makeWorkerUtils, type WorkerUtils } from 'graphile-worker';
import { cdf } from '../lib/cdf.js';
import { forkChild, type Child } from '../lib/children.js';
import type { BenchContext, Row, Scenario } from '../lib/results.js';
import { cpuPerJob } from '../lib/procstat.js';
import { median, medianSummary, mono, sleep, summarize, type Summary } from '../lib/stats.js';
import { REDIS, createPgDatabase, redisPrefix } from '../lib/stores.js';
import { waitUntil } from '../lib/edge.js';
import type { PeerMode, Record3 } from '../peers/handler.js';
import { rate, warmUp, warmedUp } from '../lib/warm-up.js';
import { throughputParams } from './params.js';

interface Peer {
  system: 'bullmq' | 'graphile-worker';
  store: string;
  startWorkers(n: number, concurrency: number, mode: PeerMode): Promise<Child[]>;
  enqueue(count: number, mode: { inFlight?: number; batch?: number }): Promise<void>;
  close(): Promise<void>;
}

async function bullmqPeer(): Promise<Peer> {
  const keys = redisPrefix();
  const queueName = 'bench';
  const queue = new Queue(queueName, { connection: { ...REDIS, maxRetriesPerRequest: null }, prefix: keys.prefix });
  await queue.waitUntilReady();
  return {
    system: 'bullmq',
    store: 'redis',
    startWorkers: (n, concurrency, mode) =>
      Promise.all(Array.from({ length: n }, () => forkChild('peers/bullmq-worker.ts', { prefix: keys.prefix, queue: queueName, concurrency, mode, redis: REDIS }))),
    async enqueue(count, mode) {
      const opts = { removeOnComplete: true, removeOnFail: true };
      if (mode.batch) {
        for (let i = 0; i < count; i += mode.batch) {
          const k = Math.min(mode.batch, count - i);
          await queue.addBulk(Array.from({ length: k }, () => ({ name: 'bench', data: { t: mono() }, opts })));
        }
        return;
      }
      let next = 0;
      await Promise.all(
        Array.from({ length: mode.inFlight ?? 32 }, async () => {
          while (next < count) {
            next++;
            await queue.add('bench', { t: mono() }, opts);
          }
        }),
      );
    },
    async close() {
      await queue.close();
      await keys.drop();
    },
  };
}

async function graphilePeer(): Promise<Peer> {
  const db = await createPgDatabase();
  // Our own pool, so that it is surely ended before the database is dropped.
  const pool = new pg.Pool({ connectionString: db.url, max: 10 });
  pool.on('error', () => undefined);
  // Silent: dropping the database at the end makes the pool complain about connections it already gave up.
  const utils: WorkerUtils = await makeWorkerUtils({ pgPool: pool, logger: new Logger(() => () => {}) });
  await utils.migrate();
  return {
    system: 'graphile-worker',
    store: 'postgresql',
    startWorkers: (n, concurrency, mode) =>
      Promise.all(Array.from({ length: n }, () => forkChild('peers/graphile-worker.ts', { connectionString: db.url, concurrency, mode }))),
    async enqueue(count, mode) {
      if (mode.batch) {
        for (let i = 0; i < count; i += mode.batch) {
          const k = Math.min(mode.batch, count - i);
          await utils.addJobs(Array.from({ length: k }, () => ({ identifier: 'bench', payload: { t: mono() } })));
        }
        return;
      }
      let next = 0;
      await Promise.all(
        Array.from({ length: mode.inFlight ?? 32 }, async () => {
          while (next < count) {
            next++;
            await utils.addJob('bench', { t: mono() });
          }
        }),
      );
    },
    async close() {
      await utils.release();
      await pool.end();
      await db.drop();
    },
  };
}

async function takeAll(workers: Child[], total: number, timeoutMs: number): Promise<Record3[]> {
  const got: Record3[] = [];
  await waitUntil(
    async () => {
      for (const w of workers) got.push(...(await w.call<Record3[]>({ type: 'take' })));
      return got.length >= total;
    },
    timeoutMs,
    `${total} peer jobs`,
    100,
  );
  return got;
}

async function measurePeer(make: () => Promise<Peer>, ctx: BenchContext): Promise<Row[]> {
  const p = throughputParams(ctx);
  const rows: Row[] = [];
  for (const mode of ['spawn', 'noop'] as const) {
    const n = mode === 'spawn' ? p.spawnJobs : p.noopJobs;
    for (const w of p.workers) {
      const peer = await make();
      const workers = await peer.startWorkers(w, p.concurrency, mode);
      try {
        await sleep(300);
        const subs = w === p.batchAt ? (['single', 'batch'] as const) : (['single'] as const);
        const warm = await warmUp(ctx.warmUpMs, subs, async (sub) => {
          const t0 = mono();
          await peer.enqueue(n, sub === 'batch' ? { batch: p.batch } : { inFlight: p.inFlight });
          const recs = await takeAll(workers, n, 300_000);
          return { jobs: n, jobsPerSecond: rate(n, t0, Math.max(...recs.map((r) => r[2]))) };
        });
        // Idle latency, at the reference size only.
        if (w === p.batchAt) {
          const starts: Summary[] = [];
          const ends: Summary[] = [];
          let all: number[] = [];
          for (let rep = 0; rep < ctx.repeats; rep++) {
            for (let i = 0; i < p.latencyJobs; i++) {
              await peer.enqueue(1, { inFlight: 1 });
              await sleep(p.gapMs);
            }
            const recs = await takeAll(workers, p.latencyJobs, 60_000);
            starts.push(summarize(recs.map((r) => r[1] - r[0])));
            ends.push(summarize(recs.map((r) => r[2] - r[0])));
            all = all.concat(recs.map((r) => r[1] - r[0]));
          }
          rows.push({
            scenario: 'peers',
            system: peer.system,
            store: peer.store,
            variant: `latency, idle workers, ${mode === 'spawn' ? 'spawn true' : 'no-op handler'}`,
            params: { workload: mode, workers: w, concurrency: p.concurrency, jobs: p.latencyJobs, gapMs: p.gapMs },
            latency: { received: medianSummary(starts), finished: medianSummary(ends) },
            cdf: cdf(all),
          });
        }
        for (const sub of subs) {
          const runs: number[] = [];
          const lat: Summary[] = [];
          const cpu: { worker: number[]; children: number[] } = { worker: [], children: [] };
          for (let rep = 0; rep < ctx.repeats; rep++) {
            const workerCpu = cpuPerJob(workers.map((c) => c.pid));
            const t0 = mono();
            await peer.enqueue(n, sub === 'batch' ? { batch: p.batch } : { inFlight: p.inFlight });
            const recs = await takeAll(workers, n, 300_000);
            const used = workerCpu.perJob(n);
            cpu.worker.push(used.selfMs);
            cpu.children.push(used.childrenMs);
            const last = Math.max(...recs.map((r) => r[2]));
            runs.push(rate(n, t0, last));
            lat.push(summarize(recs.map((r) => r[2] - r[0])));
          }
          rows.push({
            scenario: 'peers',
            system: peer.system,
            store: peer.store,
            variant: `${mode === 'spawn' ? 'spawn true' : 'no-op handler'}, ${sub} submission`,
            params: { workload: mode, workers: w, concurrency: p.concurrency, jobs: n, mode: sub },
            jobsPerSecond: median(runs),
            runs,
            latency: { 'submit→end under load': medianSummary(lat) },
            metrics: { workerCpuMsPerJob: median(cpu.worker), ...(mode === 'spawn' ? { jobProcessCpuMsPerJob: median(cpu.children) } : {}), ...warmedUp(warm, sub) },
          });
          ctx.log(`peers: ${peer.system} ${mode} W=${w} ${sub}: ${median(runs)} jobs/s (${runs.join(', ')}); CPU ms/job workers ${median(cpu.worker)}`);
        }
      } finally {
        await Promise.all(workers.map((c) => c.stop()));
        await peer.close();
      }
    }
  }
  return rows;
}

export const peers: Scenario = {
  name: 'peers',
  describe: 'BullMQ (Redis) and graphile-worker (PostgreSQL), same workloads, same fleet',
  async run(ctx) {
    return [...(await measurePeer(bullmqPeer, ctx)), ...(await measurePeer(graphilePeer, ctx))];
  },
};
