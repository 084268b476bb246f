/**
 * Fleet scale: simulator processes connect N workers (streams and heartbeats, 100 workers per HTTP/2
 * connection) to one server on MariaDB, or to two replicas above 10,000 workers (each holds half).
 * Over a measuring window the bench samples each server's RSS and CPU from /proc, the simulators
 * record each heartbeat's round trip, and jobs submitted every 200 ms give the dispatch latency
 * under that fleet. At 10,000 workers it then silences a few workers (their loss must be found within
 * the worker timeout) and restarts the server: every worker must be back, and every job submitted
 * around the restart received once.
 */
import type { Api } from '../../worker-cli/src/lib/api.js';
import { startEdge, submit, waitUntil, type EdgeCluster, type Submitted } from '../lib/edge.js';
import type { Child } from '../lib/children.js';
import { sampleUsage } from '../lib/procstat.js';
import { quantileBetween, rpcBuckets } from '../lib/server-timings.js';
import type { Row, Scenario } from '../lib/results.js';
import { sleep, summarize } from '../lib/stats.js';

const PER_PROCESS = 2500;
const PER_REPLICA = 10_000;
const HEARTBEAT_SECONDS = 10;
/**
 * `--quick` (the test suite's smoke run, which asserts no figure) heartbeats every 2 s: the run waits one
 * heartbeat interval before measuring, and 10 s of sleep there was most of the smoke run's time.
 */
const QUICK_HEARTBEAT_SECONDS = 2;
/** Longest a fleet size may take, connecting, loss and restart included. */
const FLEET_LIMIT_S = 600;
/** Workers that die without a word at 10,000, to time their loss. */
const SILENCED = 10;

interface SimCount {
  streamsLive: number;
  heartbeatedOnce: number;
  streamErrors: Record<string, number>;
}

export const fleet: Scenario = {
  name: 'fleet',
  describe: `N simulated workers on one server (two replicas above ${PER_REPLICA}), MariaDB, heartbeats every ${HEARTBEAT_SECONDS} s; at 10,000 a loss and a restart`,
  async run(ctx) {
    const sizes = process.env.BENCH_FLEET_SIZES ? process.env.BENCH_FLEET_SIZES.split(',').map(Number) : ctx.quick ? [100] : [100, 1000, 10_000, 20_000];
    const windowS = ctx.quick ? 3 : 30;
    const heartbeatS = ctx.quick ? QUICK_HEARTBEAT_SECONDS : HEARTBEAT_SECONDS;
    const rows: Row[] = [];
    for (const n of sizes) {
      const replicas = Math.ceil(n / PER_REPLICA);
      ctx.log(`fleet: ${n} workers on ${replicas} server(s)`);
      const edge = await startEdge('mariadb', { replicas, heartbeatSeconds: heartbeatS, pool: process.env.BENCH_FLEET_POOL ? Number(process.env.BENCH_FLEET_POOL) : undefined });
      try {
        // A size the server cannot carry is a result too: record it and go on to the next.
        const limit = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`gave up after ${FLEET_LIMIT_S} s`)), FLEET_LIMIT_S * 1000).unref());
        rows.push(await Promise.race([measureFleet(edge, n, replicas, windowS, heartbeatS, ctx.log, (n === 10_000 && !ctx.quick) || process.env.BENCH_FLEET_LOSS_AT === String(n)), limit]));
      } catch (err) {
        ctx.log(`fleet: ${n} workers failed: ${(err as Error).message}`);
        rows.push({ scenario: 'fleet', system: 'edge', store: 'mariadb', variant: `${n} simulated workers`, params: { workers: n, replicas }, metrics: { failed: (err as Error).message } });
      } finally {
        await edge.close();
      }
    }
    return rows;
  },
};

async function measureFleet(edge: EdgeCluster, n: number, replicas: number, windowS: number, heartbeatS: number, log: (m: string) => void, lossAndRestart: boolean): Promise<Row> {
  const idle = edge.servers.map((s) => sampleUsage(s.pid));
  await sleep(1000);
  const idleUsage = idle.map((u) => u.stop());
  // Peak over the whole run, connecting included.
  const whole = edge.servers.map((s) => sampleUsage(s.pid));
  const t0 = Date.now();
  const procs = Math.ceil(n / PER_PROCESS);
  const sims = await Promise.all(
    Array.from({ length: procs }, (_, i) =>
      edge.startSims({
        count: Math.min(PER_PROCESS, n - i * PER_PROCESS),
        concurrency: 1,
        heartbeats: process.env.BENCH_FLEET_HEARTBEATS !== '0',
        perConnection: 100,
        namePrefix: `fleet${i}`,
        servers: [i % replicas],
      }),
    ),
  );
  const connectSeconds = (Date.now() - t0) / 1000;
  // Let every worker heartbeat once before measuring (the first heartbeats of a fleet that connects at
  // once are reported apart, as `connecting`), then start clean.
  await sleep(heartbeatS * 1000);
  await waitUntil(
    async () => (await Promise.all(sims.map((s) => s.call<SimCount>({ type: 'count' })))).reduce((a, c) => a + c.heartbeatedOnce, 0) >= n,
    120_000,
    'every worker to heartbeat once',
    250,
  ).catch((err) => log(`fleet: ${(err as Error).message}`));
  const firstBeatsS = (Date.now() - t0) / 1000;
  const connecting = await Promise.all(sims.map((s) => s.call<{ p50: number; p99: number; max: number; n: number }>({ type: 'heartbeats', reset: true })));
  await Promise.all(sims.map((s) => s.call({ type: 'take' })));
  const usage = edge.servers.map((s) => sampleUsage(s.pid));
  const simUsage = sims.map((s) => sampleUsage(s.pid));
  const queries0 = await questions(edge);
  const timed0 = await Promise.all(edge.servers.map((s) => rpcBuckets(s.url, 'Heartbeat')));
  const sent: Submitted[] = [];
  let submitErrors = 0;
  let lastSubmitError = '';
  const deadline = Date.now() + windowS * 1000;
  for (let k = 0; Date.now() < deadline; k++) {
    // An overloaded server refuses some submits (Unavailable): that is a result, not a crash.
    try {
      sent.push(await submit(edge.apis[k % replicas]!, ['bench-noop']));
    } catch (err) {
      submitErrors++;
      lastSubmitError = (err as Error).message;
    }
    await sleep(200);
  }
  const dbQueries = (await questions(edge)) - queries0;
  const timed = await Promise.all(edge.servers.map((s) => rpcBuckets(s.url, 'Heartbeat')));
  const u = usage.map((x) => x.stop());
  const su = simUsage.map((s) => s.stop());
  const hb = await Promise.all(sims.map((s) => s.call<{ p50: number; p99: number; max: number; n: number; errors: number }>({ type: 'heartbeats' })));
  const receipts = await receive(sims, sent.map((s) => s.id), 120_000, log);
  const byId = new Map(receipts.map((r) => [r.id, r.recv]));
  const dispatch = summarize(sent.filter((s) => byId.has(s.id)).map((s) => byId.get(s.id)! - s.mono));
  // Heartbeat round trips of all simulators, merged: p99 is the worst simulator's (conservative).
  // NaN (null in JSON) when no heartbeat got through at all.
  const worst = (k: 'p50' | 'p99' | 'max') => (hb.some((h) => h.n > 0) ? Math.max(...hb.filter((h) => h.n > 0).map((h) => h[k])) : NaN);
  const hbAll = { n: hb.reduce((a, h) => a + h.n, 0), p50: worst('p50'), p99: worst('p99'), max: worst('max') };
  const peak = whole.map((x) => x.stop());
  const perReplica = n / replicas;
  const mib = (x: number) => Math.round(x * 10) / 10;
  const extra = lossAndRestart ? await lossAndRestartOf(edge, sims, n, heartbeatS, log) : {};
  const row: Row = {
    scenario: 'fleet',
    system: 'edge',
    store: 'mariadb',
    variant: `${n} simulated workers`,
    params: {
      workers: n,
      replicas,
      heartbeats: process.env.BENCH_FLEET_HEARTBEATS !== '0',
      dbPool: Number(process.env.BENCH_FLEET_POOL ?? 10),
      simulatorProcesses: procs,
      perConnection: 100,
      heartbeatSeconds: heartbeatS,
      windowSeconds: windowS,
    },
    latency: {
      'submit→received': dispatch,
      heartbeat: { ...hbAll, p95: NaN, mean: NaN },
      // While the fleet connects: from the first simulator's start until every worker has heartbeat once.
      'heartbeat, connecting': { n: connecting.reduce((a, h) => a + h.n, 0), p50: Math.max(...connecting.map((h) => h.p50)), p99: Math.max(...connecting.map((h) => h.p99)), max: Math.max(...connecting.map((h) => h.max)), p95: NaN, mean: NaN },
    },
    metrics: {
      // The largest replica's figures: each replica must stay within the targets.
      serverRssMiB: Math.max(...peak.map((p) => p.rssMaxMiB)),
      serverRssWindowMiB: Math.max(...u.map((x) => x.rssMaxMiB)),
      serverRssIdleMiB: Math.max(...idleUsage.map((x) => x.rssMaxMiB)),
      memoryPerWorkerKiB: Math.round(Math.max(...peak.map((p, i) => ((p.rssMaxMiB - idleUsage[i]!.rssMaxMiB) * 1024) / perReplica))),
      serverCpuPercent: Math.max(...u.map((x) => x.cpuPercent)),
      simulatorCpuPercent: Math.round(su.reduce((a, s) => a + s.cpuPercent, 0)),
      heartbeatsPerSecond: Math.round(hbAll.n / u[0]!.seconds),
      heartbeatErrors: hb.reduce((a, h) => a + h.errors, 0),
      // The servers' own time to answer a heartbeat (edge_rpc_duration_seconds): the bucket bound the p50/p99 fall under.
      serverHeartbeatP50BoundMs: quantileBetween(timed0, timed, 0.5),
      serverHeartbeatP99BoundMs: quantileBetween(timed0, timed, 0.99),
      // Statements the database received per second over the window (the whole MariaDB: the bench's own reads included).
      dbStatementsPerSecond: Math.round(dbQueries / u[0]!.seconds),
      jobsSent: sent.length,
      submitErrors,
      ...(lastSubmitError ? { lastSubmitError } : {}),
      jobsReceived: dispatch.n,
      connectSeconds: Math.round(connectSeconds * 10) / 10,
      everyWorkerHeartbeatS: Math.round(firstBeatsS * 10) / 10,
      ...extra,
    },
  };
  log(
    `fleet: ${n} workers: server RSS peak ${row.metrics!.serverRssMiB} MiB (${row.metrics!.memoryPerWorkerKiB} KiB/worker), CPU ${row.metrics!.serverCpuPercent}%, ` +
      `heartbeat p99 ${hbAll.p99} ms (connecting ${Math.max(...connecting.map((h) => h.p99))} ms, every worker heartbeat once after ${mib(firstBeatsS)} s), dispatch p50/p99 ${dispatch.p50}/${dispatch.p99} ms, connected in ${mib(connectSeconds)} s`,
  );
  return row;
}

/** Finished receipts from the simulators until every id is in (or the time is up); duplicates kept. */
async function receive(sims: Child[], ids: string[], timeoutMs: number, log: (m: string) => void): Promise<{ id: string; recv: number }[]> {
  const receipts: { id: string; recv: number }[] = [];
  const want = new Set(ids);
  await waitUntil(
    async () => {
      for (const s of sims) for (const r of await s.call<{ id: string; recv: number }[]>({ type: 'take' })) receipts.push(r), want.delete(r.id);
      return want.size === 0;
    },
    timeoutMs,
    'fleet jobs',
    200,
  ).catch((err) => log(`fleet: ${(err as Error).message}`));
  return receipts;
}

/**
 * Target 5: a few workers die without a word; each must be found lost within the worker timeout of
 * its last heartbeat (plus one sweep). Target 3: the server restarts; every live worker must be
 * back, jobs submitted around the restart each received once, and the database not swamped.
 */
async function lossAndRestartOf(edge: EdgeCluster, sims: Child[], n: number, heartbeatS: number, log: (m: string) => void) {
  // The server's default: five heartbeat intervals.
  const WORKER_TIMEOUT_S = 5 * heartbeatS;
  const silenced = await sims[0]!.call<{ name: string; lastHeartbeatAt: number }[]>({ type: 'silence', count: SILENCED });
  const found = new Map<string, number>();
  // The last-seen time each silenced worker has in the table (read until it is found lost): a late
  // find is then either a heartbeat the server never wrote or a sweep that came late.
  const stored = new Map<string, number>();
  await waitUntil(
    async () => {
      const rows = (await edge.reader('workers').select('name', 'state', 'last_heartbeat_at').whereIn('name', silenced.map((s) => s.name))) as { name: string; state: string; last_heartbeat_at: number }[];
      for (const r of rows) {
        if (r.state === 'UNKNOWN') {
          if (!found.has(r.name)) found.set(r.name, Date.now());
        } else stored.set(r.name, Number(r.last_heartbeat_at));
      }
      return found.size === silenced.length;
    },
    (WORKER_TIMEOUT_S + 40) * 1000,
    'silenced workers to be found lost',
    250,
  ).catch((err) => log(`fleet: ${(err as Error).message}`));
  // A worker none of whose heartbeats got through has no time to count from.
  const lostAfter = silenced.filter((s) => found.has(s.name) && s.lastHeartbeatAt > 0).map((s) => (found.get(s.name)! - s.lastHeartbeatAt) / 1000);
  log(`fleet: ${found.size}/${silenced.length} silenced workers found lost, ${Math.max(...lostAfter).toFixed(1)} s after their last heartbeat at most`);
  for (const s of silenced) {
    const at = found.get(s.name);
    const written = stored.get(s.name);
    if (at === undefined || written === undefined || at - s.lastHeartbeatAt <= (WORKER_TIMEOUT_S + 2) * 1000) continue;
    log(`fleet: ${s.name} found lost ${((at - s.lastHeartbeatAt) / 1000).toFixed(1)} s after its last answered heartbeat, ${((at - written) / 1000).toFixed(1)} s after the last-seen time stored`);
  }

  const live = async () => {
    const counts = await Promise.all(sims.map((s) => s.call<SimCount>({ type: 'count' })));
    return { live: counts.reduce((a, c) => a + c.streamsLive, 0), errors: counts.map((c) => c.streamErrors) };
  };
  const expected = n - silenced.length;
  await Promise.all(sims.map((s) => s.call({ type: 'pause', on: true })));
  // Jobs keep coming while the server goes down and up: each acknowledged one must arrive once.
  const api: Api = edge.apis[0]!;
  const sent: Submitted[] = [];
  let refused = 0;
  let submitting = true;
  const submitter = (async () => {
    while (submitting) {
      await submit(api, ['bench-noop']).then(
        (s) => sent.push(s),
        () => refused++,
      );
      await sleep(100);
    }
  })();
  // How hard the database is pressed: the most statements running at once, sampled.
  let threadsRunning = 0;
  const dbSampler = setInterval(() => {
    void edge.reader
      .raw("SHOW GLOBAL STATUS LIKE 'Threads_running'")
      .then(([rows]: [{ Value: string }[]]) => (threadsRunning = Math.max(threadsRunning, Number(rows[0]?.Value ?? 0))))
      .catch(() => undefined);
  }, 200);
  const t0 = Date.now();
  await edge.restartServer(0);
  const upS = (Date.now() - t0) / 1000;
  let back = 0;
  await waitUntil(async () => (back = (await live()).live) >= expected, 120_000, 'every worker back', 500).catch((err) => log(`fleet: ${(err as Error).message} (${back}/${expected})`));
  const backS = (Date.now() - t0) / 1000;
  submitting = false;
  await submitter;
  clearInterval(dbSampler);
  const receipts = await receive(sims, sent.map((s) => s.id), 120_000, log);
  const times = new Map<string, number>();
  for (const r of receipts) times.set(r.id, (times.get(r.id) ?? 0) + 1);
  const lost = sent.filter((s) => !times.has(s.id)).length;
  const twice = [...times.values()].filter((c) => c > 1).length;
  await Promise.all(sims.map((s) => s.call({ type: 'pause', on: false })));
  const after = await live();
  const unavailable = after.errors.reduce((a, e) => a + (e.Unavailable ?? 0), 0);
  log(`fleet: restart: listening again after ${upS.toFixed(1)} s, ${back}/${expected} workers back after ${backS.toFixed(1)} s; ${sent.length} jobs acknowledged, ${lost} lost, ${twice} received twice, ${refused} refused while down`);
  return {
    lossDetectedMaxS: lostAfter.length ? Math.round(Math.max(...lostAfter) * 10) / 10 : NaN,
    lossFound: `${found.size}/${silenced.length}`,
    workerTimeoutS: WORKER_TIMEOUT_S,
    restartListeningS: Math.round(upS * 10) / 10,
    restartAllBackS: Math.round(backS * 10) / 10,
    restartWorkersBack: `${back}/${expected}`,
    restartJobsAcknowledged: sent.length,
    restartJobsLost: lost,
    restartJobsTwice: twice,
    restartSubmitsRefused: refused,
    restartStreamUnavailable: unavailable,
    restartDbThreadsRunningMax: threadsRunning,
  };
}

/** Statements the database server has received so far (MariaDB's Questions counter). */
async function questions(edge: EdgeCluster): Promise<number> {
  const [rows] = (await edge.reader.raw("SHOW GLOBAL STATUS LIKE 'Questions'")) as [{ Value: string }[]];
  return Number(rows[0]?.Value ?? NaN);
}
