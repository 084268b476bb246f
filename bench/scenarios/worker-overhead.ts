/**
 * Worker overhead: one real `edge worker -c 100` holding 100 running jobs (`sleep`), measured from
 * /proc for the worker process alone (its jobs excluded): RSS and CPU idle and while holding them.
 * Airflow's worker spends about 98 MB per running task.
 */
import { startEdge, submitMany, waitUntil } from '../lib/edge.js';
import { sampleUsage } from '../lib/procstat.js';
import type { Row, Scenario } from '../lib/results.js';
import { sleep } from '../lib/stats.js';

export const workerOverhead: Scenario = {
  name: 'worker-overhead',
  describe: 'edge worker RSS and CPU holding running jobs (sleeping processes), jobs excluded',
  async run(ctx) {
    const jobs = ctx.quick ? 20 : 100;
    const windowMs = ctx.quick ? 1000 : 15_000;
    // Settling time before each window (registered, jobs started); `--quick` asserts no figure.
    const settleMs = ctx.quick ? 500 : 2000;
    const edge = await startEdge('sqlite');
    try {
      const [worker] = await edge.startWorkers(1, jobs);
      await sleep(settleMs);
      const idle = sampleUsage(worker!.pid);
      await sleep(windowMs);
      const idleU = idle.stop();
      const sent = await submitMany(edge.apis[0]!, jobs, ['sleep', '600'], { inFlight: 16 });
      await waitUntil(async () => {
        const [r] = await edge.reader('jobs').where('state', 'RUNNING').count({ n: '*' });
        return Number(r!.n) === jobs;
      }, 60_000, `${jobs} jobs running`);
      await sleep(settleMs);
      const busy = sampleUsage(worker!.pid);
      await sleep(windowMs);
      const busyU = busy.stop();
      await Promise.all(sent.map((s) => edge.apis[0]!.jobs.cancelJob({ id: s.id })));
      await waitUntil(async () => {
        const [r] = await edge.reader('jobs').where('state', 'CANCELED').count({ n: '*' });
        return Number(r!.n) === jobs;
      }, 60_000, 'jobs canceled');
      const perJobMiB = Math.round((Math.max(0, busyU.rssMaxMiB - idleU.rssMaxMiB) / jobs) * 1000) / 1000;
      const row: Row = {
        scenario: 'worker-overhead',
        system: 'edge',
        store: 'sqlite',
        variant: `edge worker holding ${jobs} running jobs`,
        params: { jobs, windowSeconds: windowMs / 1000 },
        metrics: {
          idleRssMiB: idleU.rssMeanMiB,
          busyRssMiB: busyU.rssMeanMiB,
          busyRssMaxMiB: busyU.rssMaxMiB,
          perJobMiB,
          // The strict reading: everything the worker holds, shared by its running jobs.
          totalPerJobMiB: Math.round((busyU.rssMaxMiB / jobs) * 1000) / 1000,
          idleCpuPercent: idleU.cpuPercent,
          busyCpuPercent: busyU.cpuPercent,
        },
      };
      ctx.log(`worker-overhead: idle ${idleU.rssMeanMiB} MiB, with ${jobs} jobs ${busyU.rssMeanMiB} MiB → ${perJobMiB} MiB per job (peak over peak), CPU ${busyU.cpuPercent}%`);
      return [row];
    } finally {
      await edge.close();
    }
  },
};
