import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { JobState, type Job } from '../../gen/edge/v1/job_pb.js';
import type { JobEvent } from '../../gen/edge/v1/job_service_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { DATABASES, tempDir, type TestDatabase } from '../helpers/databases.js';
import { attemptsOf, peakSlotsByWorker } from '../helpers/attempts.js';
import { PROCESS_START_MS, runEdge, startServerProcess, startWorkerProcess, type ServerProc, type WorkerProc } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const TERMINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED]);
const ms = (j: Job, field: 'startTime' | 'endTime' | 'createTime') => timestampMs(j[field]!);

for (const dbKind of DATABASES) {
  describe(`scheduling on ${dbKind.name}`, function () {
    this.timeout(90_000);
    let db: TestDatabase;
    let server: ServerProc;
    let api: Api;
    const workers: WorkerProc[] = [];

    before(async () => {
      db = await dbKind.create();
      server = await startServerProcess(db.url, ['--reserve-after', '1']);
      api = connectApi(server.url, TEST_ADMIN_TOKEN);
    });

    afterEach(async () => {
      await Promise.all(workers.splice(0).map((w) => w.stop('SIGTERM', 15_000)));
    });

    after(async () => {
      api?.close();
      await server?.stop('SIGTERM');
      await db?.drop();
    });

    async function worker(name: string, queues: string, concurrency = 1): Promise<WorkerProc> {
      const w = startWorkerProcess(server.url, { name, queues, concurrency });
      workers.push(w);
      await waitFor(`worker ${name} to connect`, async () => (await api.workers.getWorker({ name }).catch(() => undefined))?.worker?.state === WorkerState.IDLE, PROCESS_START_MS);
      return w;
    }

    const submit = async (queue: string, argv: string[], opts: { slots?: number; priority?: number } = {}): Promise<Job> =>
      (await api.jobs.submitJob({ spec: { queue, argv, ...opts } })).job!;
    const get = async (id: string) => (await api.jobs.getJob({ id })).job!;
    const ended = (id: string, timeoutMs = 30_000) =>
      waitFor(`job ${id} to end`, async () => {
        const j = await get(id);
        return TERMINAL.has(j.state) ? j : undefined;
      }, timeoutMs);

    it("holds the seed's slot example: with concurrency 3, a 2-slot job runs beside 1-slot jobs only", async () => {
      await worker('seed', 'q-seed', 3);
      const big = await submit('q-seed', ['sleep', '1.5'], { slots: 2 });
      const bigToo = await submit('q-seed', ['sleep', '0.1'], { slots: 2 });
      const smalls = [];
      for (let i = 0; i < 3; i++) smalls.push(await submit('q-seed', ['sleep', '0.4']));
      const all = await Promise.all([big, bigToo, ...smalls].map((j) => ended(j.id)));
      assert.ok(all.every((j) => j.state === JobState.SUCCEEDED));
      const attempts = await attemptsOf(api, all);
      assert.ok(attempts.every((a) => a.workerName === 'seed'));
      assert.equal(peakSlotsByWorker(attempts).get('seed'), 3, 'the worker used all 3 slots and never more');
      const [b, , s0] = all;
      assert.ok(ms(s0!, 'startTime') < ms(b!, 'endTime'), 'a 1-slot job ran beside the 2-slot job');
    });

    it('serves every queue of a multi-queue worker and no other', async () => {
      await worker('multi', 'q-m1,q-m2', 2);
      const a = await submit('q-m1', ['true']);
      const b = await submit('q-m2', ['true']);
      const c = await submit('q-m3', ['true']);
      assert.equal((await ended(a.id)).workerName, 'multi');
      assert.equal((await ended(b.id)).workerName, 'multi');
      await new Promise((r) => setTimeout(r, 300));
      const waiting = await get(c.id);
      assert.equal(waiting.state, JobState.QUEUED);
      assert.equal(waiting.reason, 'no live worker serves queue q-m3');
      await api.jobs.cancelJob({ id: c.id });
    });

    it('runs higher priority first, then in submission order', async () => {
      await worker('prio', 'q-prio', 1);
      // The blocker holds the only slot until all five are queued, however slow the machine is.
      const release = path.join(tempDir('prio'), 'release');
      const blocker = await submit('q-prio', ['sh', '-c', `while [ ! -e '${release}' ]; do sleep 0.05; done`]);
      await waitFor('the blocker to run', async () => (await get(blocker.id)).state === JobState.RUNNING);
      const low1 = await submit('q-prio', ['true'], { priority: -5 });
      const mid1 = await submit('q-prio', ['true'], { priority: 0 });
      const high = await submit('q-prio', ['true'], { priority: 10 });
      const mid2 = await submit('q-prio', ['true'], { priority: 0 });
      const low2 = await submit('q-prio', ['true'], { priority: -5 });
      fs.writeFileSync(release, '');
      const done = await Promise.all([high, mid1, mid2, low1, low2].map((j) => ended(j.id)));
      const starts = done.map((j) => ms(j, 'startTime'));
      assert.deepEqual([...starts].sort((x, y) => x - y), starts, 'start order is high, mid1, mid2, low1, low2');
    });

    it('does not let a stream of small jobs starve a big job at the head of the queue (head reservation)', async () => {
      await worker('fair', 'q-fair', 2);
      // Keep the queue full of 1-slot jobs for 8 s; the 2-slot job waits behind two of them.
      const feeder = (async () => {
        const ids: string[] = [];
        const until = Date.now() + 8000;
        while (Date.now() < until) {
          const queued = (await api.jobs.listJobs({ queue: 'q-fair', states: [JobState.QUEUED], pageSize: 10 })).jobs.length;
          if (queued < 4) ids.push((await submit('q-fair', ['sleep', '0.3'])).id);
          else await new Promise((r) => setTimeout(r, 50));
        }
        return { ids, stoppedAt: Date.now() };
      })();
      await new Promise((r) => setTimeout(r, 700));
      const big = await submit('q-fair', ['true'], { slots: 2 });
      const bigDone = await ended(big.id, 20_000);
      const { ids, stoppedAt } = await feeder;
      assert.equal(bigDone.state, JobState.SUCCEEDED);
      assert.ok(ms(bigDone, 'startTime') < stoppedAt - 2000, 'the big job ran while small jobs kept coming');
      for (const id of ids) await ended(id);
    });

    it('keeps a job bigger than every live worker QUEUED and says why, in the job and in the queue stats', async () => {
      await worker('small', 'q-big', 2);
      const j = await submit('q-big', ['true'], { slots: 4 });
      await new Promise((r) => setTimeout(r, 500));
      const waiting = await get(j.id);
      assert.equal(waiting.state, JobState.QUEUED);
      assert.equal(waiting.reason, 'no worker of queue q-big has 4 slots (the largest has 2)');
      const stats = (await api.jobs.listQueueStats({})).queues.find((q) => q.queue === 'q-big')!;
      assert.equal(stats.queued, 1);
      assert.equal(stats.workers, 1);
      assert.equal(stats.freeSlots, 2);
      assert.equal(stats.maxWorkerSlots, 2);
      assert.equal(stats.unplaceableCount, 1);
      assert.deepEqual(stats.unplaceable.map((u) => [u.jobId, u.slots, u.reason]), [[j.id, 4, waiting.reason]]);
      const table = await runEdge(['queues', '--api-url', server.url]);
      assert.match(table.stdout, /^q-big\s+1\s+0\s+0\s+0\s+0\s+0\s+\d+s\s+1\s+2$/m);
      assert.match(table.stdout, new RegExp(`${j.id}  no worker of queue q-big has 4 slots`));
      const json = JSON.parse((await runEdge(['queues', '--api-url', server.url, '--json'])).stdout) as { queue: string; unplaceableCount: number }[];
      assert.equal(json.find((q) => q.queue === 'q-big')!.unplaceableCount, 1);
      await worker('large', 'q-big', 4);
      const done = await ended(j.id);
      assert.equal(done.workerName, 'large');
      assert.equal(done.reason, '');
    });

    it('streams job changes to a watcher that resumes from its cursor without missing or repeating any', async () => {
      await worker('watched', 'q-watch', 3);
      const ac = new AbortController();
      const first: JobEvent[] = [];
      let cursor = '';
      const stream = api.jobs.watchJobs({ queue: 'q-watch' }, { signal: ac.signal });
      const jobs: Job[] = [];
      let submitted = false;
      try {
        for await (const res of stream) {
          cursor = res.cursor;
          first.push(...res.events);
          if (!submitted) {
            submitted = true;
            for (let i = 0; i < 10; i++) jobs.push(await submit('q-watch', ['sh', '-c', `sleep 0.${i % 3}`]));
          }
          if (first.length >= 15) break; // disconnect halfway
        }
      } finally {
        ac.abort();
      }
      await Promise.all(jobs.map((j) => ended(j.id)));
      const rest: JobEvent[] = [];
      const ac2 = new AbortController();
      setTimeout(() => ac2.abort(), 5000);
      try {
        for await (const res of api.jobs.watchJobs({ cursor, queue: 'q-watch' }, { signal: ac2.signal })) {
          rest.push(...res.events);
          if (first.length + rest.length >= 40) break;
        }
      } catch (err) {
        if (!ac2.signal.aborted) throw err;
      } finally {
        ac2.abort();
      }
      const all = [...first, ...rest];
      assert.equal(all.length, 40, 'four changes per job');
      const cursors = all.map((e) => Number(e.cursor));
      assert.deepEqual(cursors, [...cursors].sort((a, b) => a - b));
      assert.equal(new Set(cursors).size, cursors.length, 'no change seen twice');
      for (const j of jobs) {
        const states = all.filter((e) => e.jobId === j.id).map((e) => JobState[e.state]);
        assert.deepEqual(states, ['QUEUED', 'ASSIGNED', 'RUNNING', 'SUCCEEDED'], `changes of job ${j.id}`);
      }
      const cli = await runEdge(['job', 'watch', '--api-url', server.url, '--cursor', '0', '--json', '--until-ended', '--job', jobs[0]!.id]);
      assert.equal(cli.code, 0, cli.stderr);
      const lines = cli.stdout.trim().split('\n').map((l) => JSON.parse(l) as { state: string });
      assert.deepEqual(lines.map((l) => l.state), ['JOB_STATE_QUEUED', 'JOB_STATE_ASSIGNED', 'JOB_STATE_RUNNING', 'JOB_STATE_SUCCEEDED']);
    });
  });
}
