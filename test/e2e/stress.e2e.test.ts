import assert from 'node:assert/strict';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { registerAsWorker } from '../helpers/worker-api.js';
import { createMariaDbDatabase, createSqliteDatabase, type TestDatabase } from '../helpers/databases.js';
import { startServerProcess } from '../helpers/processes.js';
import { runStress, STRESS_WORKERS } from '../helpers/stress-driver.js';

// 300 jobs prove what 1,000 did: every queue, slot size (1, 2, 3) and priority (-1 to 2) is mixed over
// 2 replicas and 6 workers of overlapping queues, so every worker is kept full and contended for while
// jobs pile up (3 batches of 100 against 21 slots); the size beyond that only cost CPU. The Galera
// tier (test/galera) runs the full 1,000 on a cluster.
const JOBS = 300;

/** Runs JOBS short jobs through the given replicas and the six workers, then checks every invariant through the API. */
async function stress(db: TestDatabase, replicas: number): Promise<void> {
  const { seconds } = await runStress({ replicaUrls: Array.from({ length: replicas }, () => db.url), jobs: JOBS });
  console.log(`      ${JOBS} jobs through ${replicas} replica(s) and ${STRESS_WORKERS.length} workers in ${seconds.toFixed(1)} s (${(JOBS / seconds).toFixed(0)} jobs/s)`);
}

describe('stress: 300 jobs, mixed queues, slots and priorities', function () {
  this.timeout(300_000);

  it('on MariaDB with 2 server replicas and 6 workers: every job once, no worker over its concurrency', async () => {
    const db = await createMariaDbDatabase();
    try {
      await stress(db, 2);
    } finally {
      await db.drop();
    }
  });

  it('on SQLite with 1 server and 6 workers: the same invariants', async () => {
    const db = await createSqliteDatabase();
    try {
      await stress(db, 1);
    } finally {
      await db.drop();
    }
  });
});

describe('dispatch across replicas', function () {
  this.timeout(60_000);

  it('pushes a job submitted on replica A to a worker streaming from replica B, within a bounded time', async () => {
    const db = await createMariaDbDatabase();
    const a = await startServerProcess(db.url);
    const b = await startServerProcess(db.url);
    const apiA = connectApi(a.url, TEST_ADMIN_TOKEN);
    const apiB = connectApi(b.url, TEST_ADMIN_TOKEN);
    const ac = new AbortController();
    try {
      const probe = await registerAsWorker(b.url, { name: 'probe', queues: ['q-probe'], concurrency: 1, version: '0.1.0' });
      const stream = probe.workers.fetchJobs({ workerName: 'probe' }, { signal: ac.signal })[Symbol.asyncIterator]();
      const measure = async (api: Api) => {
        const t0 = performance.now();
        await api.jobs.submitJob({ spec: { queue: 'q-probe', argv: ['true'] } });
        let ev = await stream.next();
        // Keepalives (the stream's first message, and any quiet one) carry no work.
        while (ev.value.event.case === 'keepalive') ev = await stream.next();
        const dt = performance.now() - t0;
        assert.equal(ev.value.event.case, 'assignment');
        const { job, attempt } = ev.value.event.value;
        await probe.workers.updateJobState({ workerName: 'probe', jobId: job.id, attempt, state: JobState.RUNNING });
        await probe.workers.updateJobState({ workerName: 'probe', jobId: job.id, attempt, state: JobState.SUCCEEDED, exitCode: 0 });
        return dt;
      };
      await new Promise((r) => setTimeout(r, 300)); // the stream is open
      const cross: number[] = [];
      const same: number[] = [];
      for (let i = 0; i < 20; i++) {
        cross.push(await measure(apiA));
        same.push(await measure(apiB));
      }
      const summary = (xs: number[]) => {
        const s = [...xs].sort((p, q) => p - q);
        return `median ${s[s.length >> 1]!.toFixed(1)} ms, max ${s[s.length - 1]!.toFixed(1)} ms`;
      };
      probe.close();
      console.log(`      submit → worker receives, same replica: ${summary(same)}; across replicas: ${summary(cross)}`);
      // A functional bound, not a speed target (those live in the benchmarks): the change log is read
      // every 100 ms, so anything near seconds would mean the wake-up is broken.
      for (const dt of cross) assert.ok(dt < 2000, `a job crossed replicas in ${dt} ms`);
    } finally {
      ac.abort();
      apiA.close();
      apiB.close();
      await a.stop('SIGTERM');
      await b.stop('SIGTERM');
      await db.drop();
    }
  });
});
