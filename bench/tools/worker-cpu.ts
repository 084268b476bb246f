/**
 * `npx tsx bench/tools/worker-cpu.ts [--store sqlite|mariadb] [--workers 2] [--concurrency 8] [--jobs 1000] [--single N] [--prof DIR]`
 *
 * CPU per job of real `edge worker` processes spawning `true`, after a warm-up: the workers' own
 * (utime + stime), their job processes' (reaped children) and the server's, from /proc. Jobs go in
 * SubmitJobs calls of 100, or with --single N as SubmitJob calls, N in flight (the bench's "single"). With --prof,
 * the workers run under `--cpu-prof` and the top self-time functions of their profiles are printed.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startEdge, submitMany, waitJobsEnded } from '../lib/edge.js';
import { cpuPerJob } from '../lib/procstat.js';
import type { StoreName } from '../lib/stores.js';

const { values } = parseArgs({
  options: {
    store: { type: 'string', default: 'sqlite' },
    workers: { type: 'string', default: '2' },
    concurrency: { type: 'string', default: '8' },
    jobs: { type: 'string', default: '1000' },
    prof: { type: 'string' },
    single: { type: 'string' },
  },
});
const jobs = Number(values.jobs);
const prof = values.prof ? path.resolve(values.prof) : undefined;
if (prof) fs.mkdirSync(prof, { recursive: true });

const edge = await startEdge(values.store as StoreName);
try {
  await edge.startWorkers(Number(values.workers), Number(values.concurrency), { nodeArgs: prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : [] });
  let already = 0;
  const run = async (n: number) => {
    const server = cpuPerJob(edge.servers.map((s) => s.pid));
    const workers = cpuPerJob(edge.workers.map((w) => w.pid));
    const t0 = Date.now();
    const own0 = process.cpuUsage();
    const sent = await submitMany(edge.apis[0]!, n, ['true'], values.single ? { inFlight: Number(values.single) } : { batch: 100 });
    const times = await waitJobsEnded(edge.reader, sent.map((s) => s.id), 600_000, already);
    already += n;
    const last = Math.max(...[...times.values()].map((t) => t.endedAt));
    const w = workers.perJob(n);
    const own = process.cpuUsage(own0);
    return { jobsPerSecond: Math.round((n / (last - t0)) * 1000), serverMs: server.perJob(n).selfMs, workerMs: w.selfMs, jobProcessMs: w.childrenMs, submitterMs: Math.round((own.user + own.system) / n) / 1000 };
  };
  await run(Math.min(300, jobs)); // warm-up: JIT, connections, statement caches
  console.log(JSON.stringify({ store: values.store, workers: Number(values.workers), concurrency: Number(values.concurrency), jobs, ...(await run(jobs)) }));
} finally {
  await edge.close();
}
if (prof) {
  for (const f of fs.readdirSync(prof).filter((x) => x.endsWith('.cpuprofile'))) {
    const p = JSON.parse(fs.readFileSync(path.join(prof, f), 'utf8')) as { nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; hitCount?: number }[]; samples: number[]; startTime: number; endTime: number };
    const total = p.samples.length;
    const self = new Map<string, number>();
    for (const n of p.nodes) {
      const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/(node_modules|dist)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
      self.set(key, (self.get(key) ?? 0) + (n.hitCount ?? 0));
    }
    const busy = total - (self.get('(idle) :0') ?? 0);
    console.log(`\n${f}: ${total} samples, ${busy} busy`);
    for (const [k, v] of [...self].filter(([k]) => !k.startsWith('(idle)')).sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log(`${((v / busy) * 100).toFixed(1).padStart(5)}%  ${k}`);
  }
}
