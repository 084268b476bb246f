/**
 * `tsx bench/tools/control-plane-cpu.ts [sqlite|mariadb] [jobs] [--prof DIR] [--batch N] [--crowd N] [--warm N] [--node-args ARGS]`
 *
 * The control plane alone, for profiling: one server, 2 simulated workers × 8, `jobs` jobs submitted
 * (32 SubmitJob calls in flight, or SubmitJobs batches of N). Prints jobs/s, the CPU per job (from
 * /proc) of the server, the simulated workers and this process (the submitter and the reader),
 * and how busy the machine was: the three share its 2 cores. On MariaDB also the statements the
 * database received per job (its `Questions`, from every client, this tool's reads included) and,
 * when it runs on this machine, the CPU per job of `mariadbd` itself. With --prof, the server writes
 * a V8 CPU profile into DIR when it stops; --node-args passes more Node options to the server (a preload);
 * --crowd N queues N jobs of another team first, as the bench's crowded row does.
 */
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { startEdge, submitMany, waitJobsEnded } from '../lib/edge.js';
import { submitForAnotherTeam } from '../scenarios/throughput.js';
import { cpuSeconds, machineCpu } from '../lib/procstat.js';
import { wall } from '../lib/stats.js';
import type { StoreName } from '../lib/stores.js';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { prof: { type: 'string' }, batch: { type: 'string' }, crowd: { type: 'string' }, workers: { type: 'string' }, warm: { type: 'string' }, 'node-args': { type: 'string' } } });
const store = (positionals[0] ?? 'sqlite') as StoreName;
const n = Number(positionals[1] ?? 2000);
process.env.EDGE_PROFILE_NODE_ARGS = [...(values.prof ? ['--cpu-prof', `--cpu-prof-dir=${values.prof}`] : []), values['node-args'] ?? ''].join(' ').trim();
const edge = await startEdge(store);
delete process.env.EDGE_PROFILE_NODE_ARGS;
try {
  if (values.crowd) await submitForAnotherTeam(edge, Number(values.crowd));
  for (let i = 0; i < Number(values.workers ?? 2); i++) await edge.startSims({ count: 1, concurrency: 8, namePrefix: `sim${i}` });
  // A warm-up (--warm N jobs, 100 by default, submitted as the measured ones are), so that start-up work is not counted.
  const warm = await submitMany(edge.apis[0]!, Number(values.warm ?? 100), ['bench-noop'], values.batch ? { batch: Number(values.batch) } : { inFlight: 32 });
  await waitJobsEnded(edge.reader, warm.map((s) => s.id), 60_000);
  const pid = edge.servers[0]!.pid;
  const simPids = edge.sims.map((s) => s.pid);
  const d0 = await databaseCounters();
  const c0 = cpuSeconds(pid);
  const s0 = simPids.reduce((a, p) => a + cpuSeconds(p), 0);
  const m0 = machineCpu();
  const b0 = process.cpuUsage();
  const t0 = wall();
  const sent = await submitMany(edge.apis[0]!, n, ['bench-noop'], values.batch ? { batch: Number(values.batch) } : { inFlight: 32 });
  const times = await waitJobsEnded(edge.reader, sent.map((s) => s.id), 600_000, warm.length);
  const last = Math.max(...[...times.values()].map((t) => t.endedAt));
  const cpu = cpuSeconds(pid) - c0;
  const d1 = await databaseCounters();
  const sims = simPids.reduce((a, p) => a + cpuSeconds(p), 0) - s0;
  const m1 = machineCpu();
  const b1 = process.cpuUsage(b0);
  const busyShare = (m1.busy - m0.busy) / (m1.busy - m0.busy + m1.idle - m0.idle);
  const failed = [...times.values()].filter((t) => t.state !== 'SUCCEEDED').length;
  console.log(`${store}: ${n} jobs in ${last - t0} ms = ${Math.round((n / (last - t0)) * 1000)} jobs/s; server CPU ${((cpu * 1000) / n).toFixed(2)} ms/job; sims ${((sims * 1000) / n).toFixed(2)} ms/job; bench ${(((b1.user + b1.system) / 1000) / n).toFixed(2)} ms/job; machine ${Math.round(busyShare * 100)}% busy; failed ${failed}${database(d0, d1)}`);
} finally {
  await edge.close();
}

interface DatabaseCounters {
  statements: number;
  /** mariadbd's CPU seconds; undefined when it does not run on this machine (or its pid is not readable). */
  cpu?: number;
}

async function databaseCounters(): Promise<DatabaseCounters | undefined> {
  if (store !== 'mariadb') return undefined;
  const [status] = (await edge.reader.raw("show global status like 'Questions'")) as [{ Value: string }[]];
  const [[{ file }]] = (await edge.reader.raw('select @@pid_file as file')) as [[{ file: string }]];
  let cpu: number | undefined;
  try {
    cpu = cpuSeconds(Number(fs.readFileSync(file, 'utf8').trim()));
  } catch {
    cpu = undefined;
  }
  return { statements: Number(status[0]!.Value), cpu };
}

function database(before: DatabaseCounters | undefined, after: DatabaseCounters | undefined): string {
  if (!before || !after) return '';
  const cpu = before.cpu === undefined || after.cpu === undefined ? 'n/a' : `${(((after.cpu - before.cpu) * 1000) / n).toFixed(2)} ms/job`;
  return `; MariaDB ${((after.statements - before.statements) / n).toFixed(2)} statements/job (all clients), mariadbd CPU ${cpu}`;
}
