import assert from 'node:assert/strict';
import { openStore } from '../../server/store/open-store.js';
import type { Store } from '../../server/store/store.js';
import type { JobRecord } from '../../server/domain/records.js';
import { DATABASES, type TestDatabase } from '../helpers/databases.js';
import { spec } from '../helpers/job-spec.js';

/** Jobs waiting in the queue before a worker comes: a backlog, as a large batch submission leaves. */
const BACKLOG = 3000;

interface SqliteConnection {
  prepare(sql: string): { all(...args: unknown[]): { detail: string }[] };
}

for (const db of DATABASES) {
  describe(`a deep queue (store on ${db.name})`, function () {
    this.timeout(60_000);
    let database: TestDatabase;
    let store: Store;
    let now = 1_000_000;
    const tick = () => ++now;
    const end = (job: JobRecord) => store.reportJob({ jobId: job.id, attempt: job.attempt, workerName: job.workerName!, state: 'SUCCEEDED', exitCode: 0, signal: null, reason: '', ranForMs: 0 }, tick());

    beforeEach(async () => {
      database = await db.create();
      store = openStore(database.url);
      await store.migrate();
    });

    afterEach(async () => {
      await store.close();
      await database.drop();
    });

    it('claims the head of the queues and lists exactly the queues that hold queued jobs, behind thousands queued', async () => {
      await store.registerWorker({ name: 'w', queues: ['bulk', 'urgent', 'done'], concurrency: 3, version: '0.1.0' }, tick());
      // A queue whose only job has run holds no queued job.
      await store.submitJob(spec({ queue: 'done' }), tick());
      const ran = (await store.claimJobs('w', tick(), 3)).assigned.map((a) => a.job);
      assert.deepEqual(ran.map((j) => j.queue), ['done']);
      await end(ran[0]!);

      const bulk = await store.submitJobs(Array.from({ length: BACKLOG }, () => spec({ queue: 'bulk' })), tick());
      const [normal, urgent] = await store.submitJobs([spec({ queue: 'urgent' }), spec({ queue: 'urgent', priority: 5 })], tick());
      assert.deepEqual((await store.queuedQueues()).sort(), ['bulk', 'urgent']);

      // Priority first, then age, across the worker's queues.
      const claimed = (await store.claimJobs('w', tick(), 3)).assigned.map((a) => a.job.id);
      assert.deepEqual(claimed, [urgent!.id, bulk[0]!.id, bulk[1]!.id]);
      for (const id of claimed) assert.equal((await store.getJob(id))!.state, 'ASSIGNED');
      assert.equal((await store.getJob(normal!.id))!.state, 'QUEUED');

      // Slots freed, the next claim takes the next heads.
      for (const id of claimed) await end((await store.getJob(id))!);
      const next = (await store.claimJobs('w', tick(), 3)).assigned.map((a) => a.job.id);
      assert.deepEqual(next, [bulk[2]!.id, bulk[3]!.id, bulk[4]!.id]);
      // A queue emptied leaves the list.
      await store.registerWorker({ name: 'u', queues: ['urgent'], concurrency: 1, version: '0.1.0' }, tick());
      assert.deepEqual((await store.claimJobs('u', tick(), 1)).assigned.map((a) => a.job.id), [normal!.id]);
      assert.deepEqual(await store.queuedQueues(), ['bulk']);
    });

    if (db.name === 'SQLite') {
      it('marks a claim’s jobs assigned through the id’s index, not by reading every queued job (SQLite has no statistics)', async () => {
        await store.registerWorker({ name: 'w', queues: ['bulk'], concurrency: 2, version: '0.1.0' }, tick());
        await store.submitJobs(Array.from({ length: BACKLOG }, () => spec({ queue: 'bulk' })), tick());
        // The statements the claim runs, as the connection prepares them.
        const knex = (store as unknown as { knex: { client: { acquireConnection(): Promise<SqliteConnection & { prepare: (sql: string) => unknown }>; releaseConnection(c: unknown): Promise<void> } } }).knex;
        const conn = await knex.client.acquireConnection();
        const prepare = conn.prepare;
        const seen: string[] = [];
        conn.prepare = (sql: string) => (seen.push(sql), prepare(sql));
        await knex.client.releaseConnection(conn);
        try {
          assert.equal((await store.claimJobs('w', tick(), 2)).assigned.length, 2);
        } finally {
          conn.prepare = prepare;
        }
        const update = seen.find((sql) => /^update `jobs` set `state` = 'ASSIGNED'/.test(sql));
        assert.ok(update, `the claim's UPDATE was not seen among ${seen.length} statements`);
        const plan = (conn.prepare(`explain query plan ${update}`) as ReturnType<SqliteConnection['prepare']>)
          .all(...Array.from(update.matchAll(/\?/g), () => 'x'))
          .map((r) => r.detail)
          .join('; ');
        assert.match(plan, /USING INDEX sqlite_autoindex_jobs_1 \(id=\?\)/, `the claim's UPDATE reads jobs by: ${plan}`);
      });
    }
  });
}
