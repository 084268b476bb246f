import assert from 'node:assert/strict';
import { openStore } from '../../server/store/open-store.js';
import type { Store } from '../../server/store/store.js';
import { DATABASES, type TestDatabase } from '../helpers/databases.js';
import { spec } from '../helpers/job-spec.js';
import type { JobRecord } from '../../server/domain/records.js';

/** Jobs waiting in the queue before a worker comes (the deep-queue tests). */
const BACKLOG = 3000;
/** Failed jobs waiting out their retry's backoff (and jobs of another team), ahead of due jobs in their queue. */
const RETRIES = 200;

interface SqliteConnection {
  prepare(sql: string): { all(...args: unknown[]): { detail: string }[] };
}


for (const db of DATABASES) {
  describe(`store on ${db.name}`, function () {
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

    async function worker(name: string, queues = ['default'], concurrency = 1) {
      return store.registerWorker({ name, queues, concurrency, version: '0.1.0' }, tick());
    }

    it('stores a job and reads it back with every field', async () => {
      const job = await store.submitJob(spec({ argv: ['echo', 'hé'], env: { A: '1' }, labels: { team: 'x' }, priority: -3, slots: 2 }), tick());
      const read = await store.getJob(job.id);
      assert.deepEqual(read, job);
      assert.equal(read!.state, 'QUEUED');
      assert.equal(await store.getJob('00000000-0000-0000-0000-000000000000'), undefined);
    });

    it('lists newest first with filters and a cursor', async () => {
      const a = await store.submitJob(spec({ queue: 'a' }), tick());
      const b = await store.submitJob(spec({ queue: 'b' }), tick());
      const c = await store.submitJob(spec({ queue: 'a' }), tick());
      assert.deepEqual((await store.listJobs({ limit: 10 })).map((j) => j.id), [c.id, b.id, a.id]);
      assert.deepEqual((await store.listJobs({ limit: 10, queue: 'a' })).map((j) => j.id), [c.id, a.id]);
      assert.deepEqual((await store.listJobs({ limit: 10, beforeId: c.id })).map((j) => j.id), [b.id, a.id]);
      assert.deepEqual((await store.listJobs({ limit: 10, states: ['RUNNING'] })).map((j) => j.id), []);
    });

    it('claims only jobs of the worker queues, in priority then submission order', async () => {
      await worker('w', ['a', 'c'], 10);
      const low = await store.submitJob(spec({ queue: 'a' }), tick());
      await store.submitJob(spec({ queue: 'b' }), tick());
      const high = await store.submitJob(spec({ queue: 'c', priority: 5 }), tick());
      const low2 = await store.submitJob(spec({ queue: 'a' }), tick());
      const got = (await store.claimJobs('w', tick(), 10)).assigned;
      assert.deepEqual(got.map((g) => g.job.id), [high.id, low.id, low2.id]);
      assert.ok(got.every((g) => g.attempt === 1 && g.job.state === 'ASSIGNED' && g.job.workerName === 'w'));
      assert.equal((await store.listJobs({ limit: 10, states: ['QUEUED'] })).length, 1);
    });

    it('never gives a worker more slots than its concurrency', async () => {
      await worker('w', ['default'], 3);
      const two = await store.submitJob(spec({ slots: 2 }), tick());
      const twoMore = await store.submitJob(spec({ slots: 2 }), tick());
      const one = await store.submitJob(spec({ slots: 1 }), tick());
      const first = (await store.claimJobs('w', tick(), 10)).assigned;
      assert.deepEqual(first.map((g) => g.job.id), [two.id, one.id]);
      assert.deepEqual((await store.claimJobs('w', tick(), 10)).assigned, []);
      assert.equal((await store.getWorker('w'))!.usedSlots, 3);
      await store.reportJob({ jobId: two.id, attempt: 1, workerName: 'w', state: 'RUNNING', exitCode: null, signal: null, reason: '' }, tick());
      await store.reportJob({ jobId: two.id, attempt: 1, workerName: 'w', state: 'SUCCEEDED', exitCode: 0, signal: null, reason: '' }, tick());
      const second = (await store.claimJobs('w', tick(), 10)).assigned;
      assert.deepEqual(second.map((g) => g.job.id), [twoMore.id]);
    });

    // Replicas share MySQL/MariaDB; SQLite is the single-server store.
    if (db.name !== 'SQLite') it('never gives a worker more slots than its concurrency when two replicas claim for it at once', async () => {
      const replica = openStore(database.url);
      try {
        await worker('w', ['default'], 3);
        await store.submitJobs(Array.from({ length: 12 }, () => spec()), tick());
        // Each replica's write path commits one batch at a time; the two run side by side, and
        // only the lock on the worker's row keeps them from both counting the same free slots.
        const claims = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? replica : store).claimJobs('w', tick(), 3)));
        assert.equal(claims.reduce((n, c) => n + c.assigned.length, 0), 3);
        assert.equal((await store.getWorker('w'))!.usedSlots, 3);
      } finally {
        await replica.close();
      }
    });

    it('gives each job to exactly one of many workers claiming at once', async () => {
      const names = Array.from({ length: 8 }, (_, i) => `w${i}`);
      for (const n of names) await worker(n, ['default'], 4);
      const jobs = [];
      for (let i = 0; i < 20; i++) jobs.push(await store.submitJob(spec(), tick()));
      // Claimers skip rows another holds, so a round may leave jobs behind; rounds go on until none is left.
      const perWorker = new Map<string, number>();
      const claimed: string[] = [];
      for (let round = 0; round < 10 && claimed.length < 20; round++) {
        const results = await Promise.all(names.map(async (n) => (await store.claimJobs(n, tick(), 10)).assigned));
        results.forEach((r, i) => perWorker.set(names[i]!, (perWorker.get(names[i]!) ?? 0) + r.length));
        claimed.push(...results.flat().map((g) => g.job.id));
      }
      assert.equal(claimed.length, 20);
      assert.equal(new Set(claimed).size, 20);
      for (const n of perWorker.values()) assert.ok(n <= 4, `a worker of concurrency 4 got ${n} jobs`);
      assert.deepEqual(new Set(jobs.map((j) => j.id)), new Set(claimed));
    });

    it('takes no job for a terminating worker', async () => {
      await worker('w');
      await store.submitJob(spec(), tick());
      await store.heartbeat('w', 'TERMINATING', tick());
      assert.deepEqual((await store.claimJobs('w', tick(), 10)).assigned, []);
    });

    it('applies reports of the holder and refuses stale or foreign ones', async () => {
      await worker('w');
      await worker('other');
      const job = await store.submitJob(spec(), tick());
      (await store.claimJobs('w', tick(), 1)).assigned;
      const report = { jobId: job.id, attempt: 1, workerName: 'w', exitCode: null, signal: null, reason: '' };
      await assert.rejects(store.reportJob({ ...report, workerName: 'other', state: 'RUNNING' }, tick()), { kind: 'stale' });
      await assert.rejects(store.reportJob({ ...report, attempt: 2, state: 'RUNNING' }, tick()), { kind: 'stale' });
      const running = await store.reportJob({ ...report, state: 'RUNNING' }, tick());
      assert.equal(running.state, 'RUNNING');
      assert.equal((await store.reportJob({ ...report, state: 'RUNNING' }, tick())).state, 'RUNNING'); // re-sent: no change
      const failed = await store.reportJob({ ...report, state: 'FAILED', exitCode: 3, reason: 'exited with code 3' }, tick());
      assert.equal(failed.exitCode, 3);
      await assert.rejects(store.reportJob({ ...report, state: 'SUCCEEDED', exitCode: 0 }, tick()), { kind: 'conflict' });
      const [attempt] = await store.listAttempts(job.id);
      assert.equal(attempt!.state, 'FAILED');
      assert.equal(attempt!.exitCode, 3);
      assert.equal(attempt!.workerName, 'w');
    });

    it('puts a handed-back job back in its queue, the handed-back attempt on record', async () => {
      await worker('w');
      const job = await store.submitJob(spec(), tick());
      (await store.claimJobs('w', tick(), 1)).assigned;
      const back = await store.reportJob({ jobId: job.id, attempt: 1, workerName: 'w', state: 'QUEUED', exitCode: null, signal: null, reason: '' }, tick());
      assert.equal(back.state, 'QUEUED');
      assert.equal(back.attempt, 1);
      const [first] = await store.listAttempts(job.id);
      assert.equal(first!.state, 'QUEUED');
      assert.equal(first!.reason, 'handed back by worker w');
      assert.notEqual(first!.endedAt, null);
      // The next run is a new attempt: a late report about the handed-back one is stale.
      assert.equal(((await store.claimJobs('w', tick(), 1)).assigned)[0]!.attempt, 2);
      await assert.rejects(store.reportJob({ jobId: job.id, attempt: 1, workerName: 'w', state: 'RUNNING', exitCode: null, signal: null, reason: '' }, tick()), { kind: 'stale' });
    });

    it('applies reports on many jobs as one operation: each gets its job or its refusal, and on MySQL one UPDATE ends the attempts alike', async () => {
      await worker('w', ['default'], 6);
      const jobs = await store.submitJobs([spec(), spec(), spec(), spec(), spec(), spec({ maxAttempts: 2 })], tick());
      assert.equal((await store.claimJobs('w', tick(), 6)).assigned.length, 6);
      const [first, ok, failed, alsoOk, stale, retried] = jobs.map((j) => j.id) as [string, string, string, string, string, string];
      // Ends that carry their start, as a worker sends for jobs that ended before their RUNNING report.
      const end = (jobId: string, state: 'SUCCEEDED' | 'FAILED', attempt = 1) => ({
        jobId,
        attempt,
        workerName: 'w',
        state,
        exitCode: state === 'FAILED' ? 2 : 0,
        signal: null,
        reason: state === 'FAILED' ? 'exited with code 2' : '',
        ranForMs: 1,
      });
      const updates = await countUpdates(async () => {
        const out = await store.reportJobs([end(first, 'SUCCEEDED'), end(ok, 'SUCCEEDED'), end(failed, 'FAILED'), end(alsoOk, 'SUCCEEDED'), end(stale, 'SUCCEEDED', 2), end(retried, 'FAILED')], tick());
        assert.deepEqual(
          out.map((o) => ('kind' in o ? o.kind : o.state)),
          ['SUCCEEDED', 'SUCCEEDED', 'FAILED', 'SUCCEEDED', 'stale', 'QUEUED'],
        );
      });
      // Four ends alike in one statement, the retry in another; the refused report wrote nothing.
      if (updates !== undefined) assert.equal(updates, 2, `${updates} UPDATE statements for five applied reports`);
      for (const [id, state, exitCode] of [[first, 'SUCCEEDED', 0], [ok, 'SUCCEEDED', 0], [failed, 'FAILED', 2], [alsoOk, 'SUCCEEDED', 0]] as const) {
        const job = (await store.getJob(id))!;
        assert.deepEqual([job.state, job.exitCode], [state, exitCode]);
        assert.ok(job.startedAt !== null && job.endedAt !== null && job.startedAt <= job.endedAt);
        const [attempt] = await store.listAttempts(id);
        assert.deepEqual([attempt!.state, attempt!.exitCode, attempt!.endedAt], [state, exitCode, job.endedAt]);
      }
      assert.equal((await store.getJob(stale))!.state, 'ASSIGNED');
      assert.equal((await store.listAttempts(stale))[0]!.state, 'ASSIGNED');
      assert.equal((await store.listAttempts(retried))[0]!.state, 'FAILED');
      await assert.rejects(store.reportJobs([end(stale, 'SUCCEEDED'), end(stale, 'SUCCEEDED')], tick()), /one report per job/);
    });

    /** UPDATE statements `body` sent to MySQL (counted on the driver's connections); undefined on SQLite. */
    async function countUpdates(body: () => Promise<void>): Promise<number | undefined> {
      if (db.name === 'SQLite') return void (await body());
      const client = (store as unknown as { knex: { client: { acquireConnection(): Promise<object>; releaseConnection(c: object): Promise<void> } } }).knex.client;
      const conn = await client.acquireConnection();
      await client.releaseConnection(conn);
      let proto = Object.getPrototypeOf(conn) as { query: (...a: unknown[]) => unknown } | null;
      while (proto && !Object.prototype.hasOwnProperty.call(proto, 'query')) proto = Object.getPrototypeOf(proto);
      const original = proto!.query;
      let n = 0;
      proto!.query = function (this: unknown, ...args: unknown[]) {
        const sql = typeof args[0] === 'string' ? args[0] : String((args[0] as { sql?: string }).sql ?? '');
        if (/^\s*update\b/i.test(sql)) n++;
        return original.apply(this, args);
      };
      try {
        await body();
      } finally {
        proto!.query = original;
      }
      return n;
    }

    it('never lets overlapping log bytes differ from what is stored', async () => {
      await worker('w');
      const job = await store.submitJob(spec(), tick());
      (await store.claimJobs('w', tick(), 1)).assigned;
      await store.appendLog(job.id, 1, 0, Buffer.from('hello world'));
      assert.equal(await store.appendLog(job.id, 1, 6, Buffer.from('world!')), 12);
      await assert.rejects(store.appendLog(job.id, 1, 6, Buffer.from('WORLD!!')), { kind: 'conflict' });
      await assert.rejects(store.appendLog(job.id, 1, 0, Buffer.from('hallo')), { kind: 'conflict' });
      assert.equal((await store.readLog(job.id, 1, 0, 100)).data.toString(), 'hello world!');
    });

    it('cancels a queued job at once and flags a held one', async () => {
      await worker('w');
      const queued = await store.submitJob(spec({ queue: 'other' }), tick());
      const held = await store.submitJob(spec(), tick());
      (await store.claimJobs('w', tick(), 1)).assigned;
      const c1 = await store.cancelJob(queued.id, tick());
      assert.equal(c1.kind, 'canceled');
      assert.equal((await store.getJob(queued.id))!.state, 'CANCELED');
      const c2 = await store.cancelJob(held.id, tick());
      assert.equal(c2.kind, 'requested');
      assert.equal((await store.getJob(held.id))!.cancelRequested, true);
      assert.equal((await store.cancelJob(queued.id, tick())).kind, 'ended');
      await assert.rejects(store.cancelJob('00000000-0000-0000-0000-000000000000', tick()), { kind: 'not-found' });
    });

    it('appends log chunks idempotently by offset and reads any range', async () => {
      await worker('w');
      const job = await store.submitJob(spec(), tick());
      (await store.claimJobs('w', tick(), 1)).assigned;
      assert.equal(await store.appendLog(job.id, 1, 0, Buffer.from('hello ')), 6);
      assert.equal(await store.appendLog(job.id, 1, 0, Buffer.from('hello ')), 6); // re-sent
      assert.equal(await store.appendLog(job.id, 1, 3, Buffer.from('lo world')), 11); // overlapping
      await assert.rejects(store.appendLog(job.id, 1, 20, Buffer.from('gap')), { kind: 'out-of-range' });
      await assert.rejects(store.appendLog(job.id, 2, 0, Buffer.from('x')), { kind: 'not-found' });
      const all = await store.readLog(job.id, 0, 0, 1024);
      assert.equal(all.data.toString(), 'hello world');
      assert.equal(all.size, 11);
      assert.equal(all.ended, false);
      assert.equal((await store.readLog(job.id, 1, 4, 3)).data.toString(), 'o w');
      assert.equal((await store.readLog(job.id, 1, 11, 10)).data.length, 0);
      const bin = Buffer.from([0, 255, 1, 254]);
      await store.appendLog(job.id, 1, 11, bin);
      assert.deepEqual((await store.readLog(job.id, 1, 11, 10)).data, bin);
      await store.reportJob({ jobId: job.id, attempt: 1, workerName: 'w', state: 'RUNNING', exitCode: null, signal: null, reason: '' }, tick());
      await store.reportJob({ jobId: job.id, attempt: 1, workerName: 'w', state: 'SUCCEEDED', exitCode: 0, signal: null, reason: '' }, tick());
      assert.equal((await store.readLog(job.id, 1, 0, 100)).ended, true);
      await assert.rejects(store.appendLog(job.id, 1, 15, Buffer.from('late')), { kind: 'stale' });
    });

    it('keeps workers with the slots and jobs they hold', async () => {
      await worker('b', ['x', 'y'], 4);
      await worker('a');
      const j = await store.submitJob(spec({ queue: 'x', slots: 3 }), tick());
      (await store.claimJobs('b', tick(), 5)).assigned;
      const list = await store.listWorkers(10);
      assert.deepEqual(list.map((w) => w.name), ['a', 'b']);
      assert.deepEqual(list[1]!.jobIds, [j.id]);
      assert.equal(list[1]!.usedSlots, 3);
      assert.deepEqual(list[1]!.queues, ['x', 'y']);
      assert.deepEqual((await store.listWorkers(10, 'a')).map((w) => w.name), ['b']);
      assert.equal((await store.heartbeat('nobody', 'IDLE', tick())), undefined);
    });

    it('reads many workers by name, the unknown left out, across statement chunks', async () => {
      const names = Array.from({ length: 620 }, (_, i) => `w${i}`);
      for (const name of names.slice(0, 3)) await worker(name, ['q', name]);
      const rows = await store.workerRows([...names, 'nobody']);
      assert.deepEqual([...rows.keys()].sort(), ['w0', 'w1', 'w2']);
      assert.deepEqual(rows.get('w2')!.queues, ['q', 'w2']);
      assert.equal(rows.get('w2')!.state, (await store.getWorker('w2'))!.state);
      // More names than one statement takes (500): the rows of the later chunk are there too.
      await worker('w600');
      assert.deepEqual([...(await store.workerRows(names)).keys()].sort(), ['w0', 'w1', 'w2', 'w600']);
    });

    describe('a deep queue: thousands of jobs queued before a worker comes, as a large batch submission leaves', () => {
      const end = (job: JobRecord) =>
        store.reportJob({ jobId: job.id, attempt: job.attempt, workerName: job.workerName!, state: 'SUCCEEDED', exitCode: 0, signal: null, reason: '', ranForMs: 0 }, tick());

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

      it('claims step over no job they cannot take (a retry waiting out its backoff, another team’s); a release makes the due retries claimable, oldest first', async () => {
        await store.registerWorker({ name: 'w', queues: ['bulk'], concurrency: RETRIES, version: '0.1.0' }, tick());
        await store.submitJobs(Array.from({ length: RETRIES }, () => spec({ queue: 'bulk', team: 'other' })), tick());
        const first = await store.submitJobs(Array.from({ length: RETRIES }, () => spec({ queue: 'bulk', maxAttempts: 2 })), tick());
        const held = (await store.claimJobs('w', tick(), RETRIES)).assigned.map((a) => a.job);
        assert.equal(held.length, RETRIES);
        for (const job of held) {
          const report = { jobId: job.id, attempt: job.attempt, workerName: 'w', exitCode: 1, signal: null, reason: 'exited with code 1', ranForMs: 0 };
          assert.equal((await store.reportJob({ ...report, state: 'FAILED' }, tick())).state, 'QUEUED', 'retried after the store’s backoff (10 s)');
        }
        const fresh = await store.submitJobs([spec({ queue: 'bulk' }), spec({ queue: 'bulk' }), spec({ queue: 'bulk' })], tick());

        const before = await indexReads();
        const claimed = (await store.claimJobs('w', tick(), 3)).assigned.map((a) => a.job.id);
        const after = await indexReads();
        const read = before === undefined || after === undefined ? undefined : after - before;
        assert.deepEqual(claimed, fresh.map((j) => j.id), 'the due jobs, behind the waiting retries');
        // Each claim used to step over every waiting retry and every other team's job of its queue.
        if (read !== undefined) assert.ok(read < RETRIES / 2, `the claim read ${read} index entries past ${RETRIES} waiting retries and ${RETRIES} jobs of another team`);

        const dueAt = (await store.getJob(first[0]!.id))!.notBefore;
        assert.ok(dueAt >= Date.now() + 5_000, 'retried after the store’s backoff (10 s)');
        assert.deepEqual(await store.releaseDueJobs(['bulk'], Date.now()), { released: [], nextDueAt: dueAt }, 'nothing is due yet');
        // Released at once when the backoff is over; then none waits.
        assert.deepEqual(await store.releaseDueJobs(['bulk', 'none'], Date.now() + 60_000), { released: [{ queue: 'bulk', jobs: RETRIES }], nextDueAt: undefined });
        const retried = (await store.claimJobs('w', tick(), 3)).assigned;
        assert.deepEqual(retried.map((a) => [a.job.id, a.attempt]), first.slice(0, 3).map((j) => [j.id, 2]));
      });

      /** Index entries read so far (MariaDB's Handler_read_next: the store runs alone on the server here); undefined on SQLite. */
      async function indexReads(): Promise<number | undefined> {
        if (db.name === 'SQLite') return undefined;
        const knex = (store as unknown as { knex: { raw(sql: string): Promise<[{ Value: string }[]]> } }).knex;
        const [rows] = await knex.raw("show global status like 'Handler_read_next'");
        return Number(rows[0]!.Value);
      }

      if (db.name === 'SQLite') {
        it('reads a claim’s jobs through the claim index and marks them assigned through the id’s index, not by reading every queued job (SQLite has no statistics)', async () => {
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
          // The read of the queue's head: released jobs only, in the index's order (no sort step).
          const head = seen.find((sql) => /^select \* from `jobs` where `state` = 'QUEUED'/.test(sql));
          assert.ok(head, `the claim's read was not seen among ${seen.length} statements`);
          const headPlan = (conn.prepare(`explain query plan ${head}`) as ReturnType<SqliteConnection['prepare']>)
            .all(...Array.from(head.matchAll(/\?/g), () => 'x'))
            .map((r) => r.detail)
            .join('; ');
          assert.match(headPlan, /^SEARCH jobs USING INDEX jobs_claim_idx \(state=\? AND queue=\? AND not_before=\? AND team=\?\)$/, `the claim reads the queue by: ${headPlan}`);
        });
      }
    });
  });
}
