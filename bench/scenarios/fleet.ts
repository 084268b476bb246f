/**
 * Fleet scale: simulator processes connect N workers (streams and heartbeats, 100 workers per HTTP/2
 * connection) to one server on MariaDB. Over a measuring window the bench samples the server's RSS
 * and CPU from /proc, the simulators record each heartbeat's round trip, and jobs submitted every
 * 200 ms give the dispatch latency under that fleet.
 */
import { startEdge, submit, waitUntil, type Submitted } from '../lib/edge.js';
import { sampleUsage } from '../lib/procstat.js';
import type { Row, Scenario } from '../lib/results.js';
import { sleep, summarize } from '../lib/stats.js';

const PER_PROCESS = 2500;
const HEARTBEAT_SECONDS = 10;
/** Longest a fleet size may take, connecting included. */
const FLEET_LIMIT_S = 420;

export const fleet: Scenario = {
  name: 'fleet',
  describe: `N simulated workers on one server (MariaDB), heartbeats every ${HEARTBEAT_SECONDS} s`,
  async run(ctx) {
    const sizes = process.env.BENCH_FLEET_SIZES ? process.env.BENCH_FLEET_SIZES.split(',').map(Number) : ctx.quick ? [100] : [100, 1000, 10_000];
    const windowS = ctx.quick ? 5 : 30;
    const rows: Row[] = [];
    for (const n of sizes) {
      ctx.log(`fleet: ${n} workers`);
      const edge = await startEdge('mariadb', { heartbeatSeconds: HEARTBEAT_SECONDS, pool: process.env.BENCH_FLEET_POOL ? Number(process.env.BENCH_FLEET_POOL) : undefined });
      try {
        // A size the server cannot carry is a result too: record it and go on to the next.
        const limit = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`gave up after ${FLEET_LIMIT_S} s`)), FLEET_LIMIT_S * 1000).unref());
        rows.push(await Promise.race([measureFleet(n), limit]));
      } catch (err) {
        ctx.log(`fleet: ${n} workers failed: ${(err as Error).message}`);
        rows.push({ scenario: 'fleet', system: 'edge', store: 'mariadb', variant: `${n} simulated workers`, params: { workers: n }, metrics: { failed: (err as Error).message } });
      } finally {
        await edge.close();
      }
      async function measureFleet(n: number): Promise<Row> {
        const server = edge.servers[0]!;
        const idle = sampleUsage(server.pid);
        await sleep(1000);
        const idleUsage = idle.stop();
        const t0 = Date.now();
        const procs = Math.ceil(n / PER_PROCESS);
        const sims = await Promise.all(
          Array.from({ length: procs }, (_, i) =>
            edge.startSims({ count: Math.min(PER_PROCESS, n - i * PER_PROCESS), concurrency: 1, heartbeats: process.env.BENCH_FLEET_HEARTBEATS !== '0', perConnection: 100, namePrefix: `fleet${i}` }),
          ),
        );
        const connectSeconds = (Date.now() - t0) / 1000;
        // Let every worker heartbeat once before measuring, then start clean.
        await sleep(HEARTBEAT_SECONDS * 1000);
        await Promise.all(sims.map((s) => s.call({ type: 'heartbeats', reset: true })));
        await Promise.all(sims.map((s) => s.call({ type: 'take' })));
        const usage = sampleUsage(server.pid);
        const simUsage = sims.map((s) => sampleUsage(s.pid));
        const sent: Submitted[] = [];
        let submitErrors = 0;
        let lastSubmitError = '';
        const deadline = Date.now() + windowS * 1000;
        while (Date.now() < deadline) {
          // An overloaded server refuses some submits (Unavailable): that is a result, not a crash.
          try {
            sent.push(await submit(edge.apis[0]!, ['bench-noop']));
          } catch (err) {
            submitErrors++;
            lastSubmitError = (err as Error).message;
          }
          await sleep(200);
        }
        const u = usage.stop();
        const su = simUsage.map((s) => s.stop());
        const hb = await Promise.all(sims.map((s) => s.call<{ p50: number; p99: number; max: number; n: number; errors: number }>({ type: 'heartbeats' })));
        // Heartbeat round trips of all simulators, merged: p99 is the worst simulator's (conservative).
        const receipts: { id: string; recv: number }[] = [];
        await waitUntil(
          async () => {
            for (const s of sims) receipts.push(...(await s.call<{ id: string; recv: number }[]>({ type: 'take' })));
            return receipts.length >= sent.length;
          },
          120_000,
          'fleet jobs',
          200,
        ).catch((err) => ctx.log(`fleet: ${(err as Error).message}`));
        const byId = new Map(receipts.map((r) => [r.id, r.recv]));
        const dispatch = summarize(sent.filter((s) => byId.has(s.id)).map((s) => byId.get(s.id)! - s.mono));
        // NaN (null in JSON) when no heartbeat got through at all.
        const worst = (k: 'p50' | 'p99' | 'max') => (hb.some((h) => h.n > 0) ? Math.max(...hb.filter((h) => h.n > 0).map((h) => h[k])) : NaN);
        const hbAll = { n: hb.reduce((a, h) => a + h.n, 0), p50: worst('p50'), p99: worst('p99'), max: worst('max') };
        const row: Row = {
          scenario: 'fleet',
          system: 'edge',
          store: 'mariadb',
          variant: `${n} simulated workers`,
          params: { workers: n, heartbeats: process.env.BENCH_FLEET_HEARTBEATS !== '0', dbPool: Number(process.env.BENCH_FLEET_POOL ?? 10), simulatorProcesses: procs, perConnection: 100, heartbeatSeconds: HEARTBEAT_SECONDS, windowSeconds: windowS },
          latency: { 'submit→received': dispatch, heartbeat: { ...hbAll, p95: NaN, mean: NaN } },
          metrics: {
            serverRssMiB: u.rssMaxMiB,
            serverRssIdleMiB: idleUsage.rssMaxMiB,
            serverCpuPercent: u.cpuPercent,
            simulatorCpuPercent: Math.round(su.reduce((a, s) => a + s.cpuPercent, 0)),
            heartbeatsPerSecond: Math.round(hbAll.n / u.seconds),
            heartbeatErrors: hb.reduce((a, h) => a + h.errors, 0),
            jobsSent: sent.length,
            submitErrors,
            ...(lastSubmitError ? { lastSubmitError } : {}),
            jobsReceived: dispatch.n,
            connectSeconds: Math.round(connectSeconds * 10) / 10,
          },
        };
        ctx.log(`fleet: ${n} workers: server RSS ${u.rssMaxMiB} MiB, CPU ${u.cpuPercent}%, heartbeat p99 ${hbAll.p99} ms, dispatch p50 ${dispatch.p50} ms`);
        return row;
      }
    }
    return rows;
  },
};
