import assert from 'node:assert/strict';
import { openStore } from '../../server/store/open-store.js';
import type { Store } from '../../server/store/store.js';
import { DATABASES, type TestDatabase } from '../helpers/databases.js';
import { spec } from '../helpers/job-spec.js';


for (const db of DATABASES) {
  describe(`submit fast path (store on ${db.name})`, function () {
    let database: TestDatabase;
    let store: Store;
    let now = 1_000_000;
    const tick = () => ++now;

    beforeEach(async () => {
      database = await db.create();
      store = openStore(database.url);
      await store.migrate();
    });

    afterEach(async () => {
      await store.close();
      await database.drop();
    });

    const worker = (name: string, queues = ['default'], concurrency = 1) => store.registerWorker({ name, queues, concurrency, version: '0.1.0' }, tick());

    it('assigns a job to an idle candidate in the transaction that stores it', async () => {
      await worker('w');
      const { job, assignment } = await store.submitAndAssign(spec(), tick(), ['w']);
      assert.equal(job.state, 'ASSIGNED');
      assert.equal(assignment?.attempt, 1);
      const read = await store.getJob(job.id);
      assert.equal(read!.state, 'ASSIGNED');
      assert.equal(read!.workerName, 'w');
      assert.equal(read!.attempt, 1);
      assert.deepEqual((await store.listAttempts(job.id)).map((a) => [a.attempt, a.workerName, a.state]), [[1, 'w', 'ASSIGNED']]);
      // The worker's slot is taken: a claim finds nothing more, and the job runs as a claimed one would.
      assert.deepEqual((await store.claimJobs('w', tick(), 10)).assigned, []);
      await store.reportJob({ jobId: job.id, attempt: 1, workerName: 'w', state: 'RUNNING', exitCode: null, signal: null, reason: '' }, tick());
      const done = await store.reportJob({ jobId: job.id, attempt: 1, workerName: 'w', state: 'SUCCEEDED', exitCode: 0, signal: null, reason: '' }, tick());
      assert.equal(done.state, 'SUCCEEDED');
    });

    it('queues the job when the candidate is full, serves other queues, or is not accepting', async () => {
      await worker('w', ['default'], 1);
      await worker('other', ['elsewhere'], 4);
      const first = await store.submitAndAssign(spec(), tick(), ['w']);
      assert.equal(first.job.state, 'ASSIGNED');
      const full = await store.submitAndAssign(spec(), tick(), ['w']);
      assert.equal(full.job.state, 'QUEUED');
      assert.equal(full.assignment, undefined);
      const wrongQueue = await store.submitAndAssign(spec({ queue: 'mine' }), tick(), ['other']);
      assert.equal(wrongQueue.job.state, 'QUEUED');
      await store.heartbeat('other', 'TERMINATING', tick());
      const stopping = await store.submitAndAssign(spec({ queue: 'elsewhere' }), tick(), ['other']);
      assert.equal(stopping.job.state, 'QUEUED');
      assert.equal((await store.getJob(stopping.job.id))!.state, 'QUEUED');
    });

    it('is not held back by waiting jobs it does not overtake: another team’s, or a retry waiting out its backoff', async () => {
      await store.submitJob(spec({ team: 'other' }), tick());
      await worker('w', ['default'], 2);
      const failing = await store.submitJob(spec({ maxAttempts: 2 }), tick());
      const [held] = (await store.claimJobs('w', tick(), 1)).assigned;
      assert.equal(held!.job.id, failing.id);
      const retry = await store.reportJob({ jobId: failing.id, attempt: 1, workerName: 'w', state: 'FAILED', exitCode: 1, signal: null, reason: 'exited with code 1', ranForMs: 0 }, tick());
      assert.equal(retry.state, 'QUEUED', 'retried after the store’s backoff (10 s)');
      const next = await store.submitAndAssign(spec(), tick(), ['w']);
      assert.equal(next.job.state, 'ASSIGNED');
      assert.equal(next.assignment?.attempt, 1);
    });

    it('never lets a new job overtake one that waits in its queue', async () => {
      const waiting = await store.submitJob(spec(), tick());
      await worker('w', ['default'], 4);
      const later = await store.submitAndAssign(spec(), tick(), ['w']);
      assert.equal(later.job.state, 'QUEUED');
      const claimed = (await store.claimJobs('w', tick(), 10)).assigned;
      assert.deepEqual(claimed.map((a) => a.job.id), [waiting.id, later.job.id]);
    });
  });
}
