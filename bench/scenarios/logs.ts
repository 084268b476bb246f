/**
 * Logs: upload rate of one job writing a large output and of 50 jobs at once (bytes stored centrally
 * over the jobs' run time: a job is SUCCEEDED only once every byte is stored), and the delay of a line
 * from the job writing it to a `TailLogs` follower receiving it.
 */
import { startEdge, submit, submitMany, waitJobsEnded } from '../lib/edge.js';
import type { Row, Scenario } from '../lib/results.js';
import { summarize } from '../lib/stats.js';
import type { StoreName } from '../lib/stores.js';

const LINE = 'edge executor benchmark log line 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ';
const writer = (bytes: number) => ['sh', '-c', `yes '${LINE}' | head -c ${bytes}`];
const MiB = 1048576;

async function uploadRate(store: StoreName, jobs: number, bytesEach: number) {
  const edge = await startEdge(store);
  try {
    await edge.startWorkers(1, jobs);
    const sent = await submitMany(edge.apis[0]!, jobs, writer(bytesEach), { inFlight: 50 });
    const times = [...(await waitJobsEnded(edge.reader, sent.map((s) => s.id), 600_000)).values()];
    const [sizes] = await edge.reader('job_attempts').sum({ b: 'log_size' });
    const stored = Number(sizes!.b);
    const seconds = (Math.max(...times.map((t) => t.endedAt)) - Math.min(...times.map((t) => t.startedAt))) / 1000;
    return { mbPerSecond: Math.round((stored / MiB / seconds) * 10) / 10, storedMiB: Math.round((stored / MiB) * 10) / 10, seconds: Math.round(seconds * 100) / 100, complete: stored === jobs * bytesEach };
  } finally {
    await edge.close();
  }
}

async function tailDelay(store: StoreName, lines: number) {
  const edge = await startEdge(store);
  try {
    await edge.startWorkers(1, 1);
    const job = await submit(edge.apis[0]!, ['sh', '-c', `for i in $(seq ${lines}); do date +%s%N; sleep 0.05; done`]);
    const delays: number[] = [];
    let buf = '';
    for await (const chunk of edge.apis[0]!.logs.tailLogs({ jobId: job.id })) {
      const now = Date.now();
      buf += Buffer.from(chunk.data).toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      for (const p of parts) if (/^\d+$/.test(p)) delays.push(now - Number(BigInt(p) / 1000000n));
    }
    return summarize(delays);
  } finally {
    await edge.close();
  }
}

export const logs: Scenario = {
  name: 'logs',
  describe: 'log upload MB/s (1 job, 50 jobs at once) and line → tail delay',
  async run(ctx) {
    const rows: Row[] = [];
    const stores: StoreName[] = ctx.quick ? ['sqlite'] : ['sqlite', 'mariadb'];
    const one = ctx.quick ? 8 * MiB : 128 * MiB;
    const many = ctx.quick ? 10 : 50;
    const each = ctx.quick ? 1 * MiB : 4 * MiB;
    for (const store of stores) {
      const r1 = await uploadRate(store, 1, one);
      rows.push({ scenario: 'logs', system: 'edge', store, variant: 'upload, one job', params: { jobs: 1, bytesPerJob: one }, metrics: r1 });
      ctx.log(`logs: ${store} one job ${r1.mbPerSecond} MB/s`);
      const r2 = await uploadRate(store, many, each);
      rows.push({ scenario: 'logs', system: 'edge', store, variant: `upload, ${many} jobs at once`, params: { jobs: many, bytesPerJob: each }, metrics: r2 });
      ctx.log(`logs: ${store} ${many} jobs ${r2.mbPerSecond} MB/s`);
      const t = await tailDelay(store, ctx.quick ? 20 : 100);
      rows.push({ scenario: 'logs', system: 'edge', store, variant: 'line written → tail receives', latency: { 'line→tail': t } });
      ctx.log(`logs: ${store} tail delay p50 ${t.p50} ms p99 ${t.p99} ms`);
    }
    return rows;
  },
};
