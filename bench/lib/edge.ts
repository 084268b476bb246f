import type { Knex } from 'knex';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { TEST_ADMIN_TOKEN } from '../../test/helpers/credentials.js';
import { startServerProcess, startWorkerProcess, type ServerProc, type WorkerProc } from '../../test/helpers/processes.js';
import { forkChild, type Child } from './children.js';
import { createEdgeDatabase, openReader, type StoreName } from './stores.js';
import { mono, sleep, wall } from './stats.js';

/** Edge servers (one or more replicas) on a fresh database, and a client and a row reader for the bench. */
export interface EdgeCluster {
  readonly store: StoreName;
  readonly servers: ServerProc[];
  readonly apis: Api[];
  readonly reader: Knex;
  readonly workers: WorkerProc[];
  readonly sims: Child[];
  /** Real `edge worker` processes, `true` jobs and all. Resolves once all are registered. */
  startWorkers(count: number, concurrency: number, opts?: { server?: number; queue?: string; nodeArgs?: string[] }): Promise<WorkerProc[]>;
  /** Simulated workers (bench/sim): they complete every job without running it. */
  startSims(opts: SimOptions): Promise<Child>;
  /** Stops replica i cleanly (SIGTERM) and starts it again on the same port; resolves once it listens again. */
  restartServer(i: number): Promise<void>;
  close(): Promise<void>;
}

export interface SimOptions {
  count: number;
  concurrency: number;
  queue?: string;
  perConnection?: number;
  heartbeats?: boolean;
  /** Indexes of the replicas the simulated workers connect to (round-robin per connection). */
  servers?: number[];
  namePrefix?: string;
}

export async function startEdge(store: StoreName, opts: { replicas?: number; heartbeatSeconds?: number; pool?: number } = {}): Promise<EdgeCluster> {
  const created = await createEdgeDatabase(store);
  // `?pool=N` sizes the server's MySQL connection pool (default 10).
  const db = opts.pool && store === 'mariadb' ? { url: `${created.url}?pool=${opts.pool}`, drop: created.drop } : created;
  const servers: ServerProc[] = [];
  const extra = ['--heartbeat-interval', String(opts.heartbeatSeconds ?? 10)];
  // Replicas start one after the other: the first runs the migrations.
  for (let i = 0; i < (opts.replicas ?? 1); i++) servers.push(await startServerProcess(db.url, extra));
  const apis = servers.map((s) => connectApi(s.url, TEST_ADMIN_TOKEN));
  const reader = openReader(db.url);
  const workers: WorkerProc[] = [];
  const sims: Child[] = [];
  let simSeq = 0;
  return {
    store,
    servers,
    apis,
    reader,
    workers,
    sims,
    async startWorkers(count, concurrency, o = {}) {
      const started: WorkerProc[] = [];
      const base = workers.length;
      for (let i = 0; i < count; i++) {
        const w = startWorkerProcess(servers[o.server ?? 0]!.url, { name: `bench-w${base + i}`, concurrency, queues: o.queue, nodeArgs: o.nodeArgs });
        workers.push(w);
        started.push(w);
      }
      const names = started.map((w) => w.name);
      await waitUntil(async () => {
        const rows = await reader('workers').whereIn('name', names).count({ n: '*' });
        return Number(rows[0]!.n) === names.length;
      }, 60_000, 'workers to register');
      await sleep(300); // registered, then the stream opens
      return started;
    },
    async startSims(o) {
      const sim = await forkChild('sim/sim-workers.ts', {
        apiUrls: (o.servers ?? [0]).map((i) => servers[i]!.url),
        count: o.count,
        namePrefix: o.namePrefix ?? `sim${simSeq++}`,
        queues: [o.queue ?? 'default'],
        concurrency: o.concurrency,
        perConnection: o.perConnection ?? 100,
        // Like real workers: a worker that never heartbeats is reaped as lost once a run outlasts its timeout.
        heartbeats: o.heartbeats ?? true,
        // A simulator is ready once its workers have registered and opened their streams: 2,500 take a while on a busy server.
      }, 120_000 + o.count * 100);
      sims.push(sim);
      await sleep(300 + o.count / 20); // streams reach the server
      return sim;
    },
    async restartServer(i) {
      const old = servers[i]!;
      await old.stop('SIGTERM', 30_000);
      servers[i] = await startServerProcess(db.url, extra, Number(new URL(old.url).port));
    },
    async close() {
      await Promise.all(sims.map((s) => s.stop()));
      await Promise.all(workers.map((w) => w.stop('SIGTERM', 10_000)));
      for (const a of apis) a.close();
      await Promise.all(servers.map((s) => s.stop('SIGTERM', 10_000)));
      await reader.destroy();
      await db.drop();
    },
  };
}

export async function waitUntil(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export interface Submitted {
  id: string;
  /** Wall clock (ms) and monotonic clock (ms) just before the submit call. */
  wall: number;
  mono: number;
}

/** Submits one job; records when the call was made. */
export async function submit(api: Api, argv: string[], queue = 'default'): Promise<Submitted> {
  const t = { wall: wall(), mono: mono() };
  const res = await api.jobs.submitJob({ spec: { argv, queue } });
  return { id: res.job!.id, ...t };
}

/**
 * Submits `n` jobs: with up to `inFlight` SubmitJob calls at once ("single"), or `batch` jobs per
 * SubmitJobs call, one call after the other ("batch"). Every job of a batch is stamped with the time
 * its call was made.
 */
export async function submitMany(api: Api, n: number, argv: string[], mode: { inFlight?: number; batch?: number }, queue = 'default'): Promise<Submitted[]> {
  const out: Submitted[] = [];
  if (mode.batch) {
    for (let i = 0; i < n; i += mode.batch) {
      const k = Math.min(mode.batch, n - i);
      const t = { wall: wall(), mono: mono() };
      const res = await api.jobs.submitJobs({ specs: Array.from({ length: k }, () => ({ argv, queue })) });
      out.push(...res.jobs.map((j) => ({ id: j.id, ...t })));
    }
    return out;
  }
  let next = 0;
  await Promise.all(
    Array.from({ length: mode.inFlight ?? 16 }, async () => {
      while (next < n) {
        next++;
        out.push(await submit(api, argv, queue));
      }
    }),
  );
  return out;
}

/**
 * Waits until every job is in a terminal state (reading the database: `already` jobs had ended
 * before these were submitted), then returns their rows.
 */
export async function waitJobsEnded(reader: Knex, ids: string[], timeoutMs: number, already = 0): Promise<Map<string, JobTimes>> {
  const terminal = ['SUCCEEDED', 'FAILED', 'CANCELED'];
  await waitUntil(
    async () => {
      const [row] = await reader('jobs').whereIn('state', terminal).count({ n: '*' });
      return Number(row!.n) >= already + ids.length;
    },
    timeoutMs,
    `${ids.length} jobs to end`,
    100,
  );
  const times = new Map<string, JobTimes>();
  for (let i = 0; i < ids.length; i += 500) {
    const rows = await reader('jobs').select('id', 'state', 'created_at', 'started_at', 'ended_at').whereIn('id', ids.slice(i, i + 500));
    for (const r of rows) times.set(String(r.id), { state: String(r.state), createdAt: Number(r.created_at), startedAt: Number(r.started_at), endedAt: Number(r.ended_at) });
  }
  return times;
}

export interface JobTimes {
  state: string;
  createdAt: number;
  startedAt: number;
  endedAt: number;
}
