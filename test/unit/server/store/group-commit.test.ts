import assert from 'node:assert/strict';
import knexFactory, { type Knex } from 'knex';
import type { WrittenEvent } from '../../../../server/domain/records.js';
import { GroupCommitWriter } from '../../../../server/store/group-commit.js';

/** The writer over an in-process SQLite database (no server): what shares a commit, and what is rolled back alone. */
describe('GroupCommitWriter: one write path, many callers per commit', () => {
  let knex: Knex;
  let commits: number;
  let announced: WrittenEvent[][];
  const outboxes = new WeakMap<Knex.Transaction, WrittenEvent[]>();
  const event = (jobId: string): WrittenEvent => ({ jobId, queue: 'q', kind: 'state', state: 'QUEUED', attempt: 0, workerName: null, exitCode: null, signal: null, reason: '', at: 0 });
  const write = (writer: GroupCommitWriter, id: string, opts: { failAfterWrite?: boolean } = {}) =>
    writer.run(async (trx) => {
      await trx('t').insert({ id });
      outboxes.get(trx)!.push(event(id));
      if (opts.failAfterWrite) throw new Error(`refused ${id}`);
      return id;
    });
  const rows = async () => (await knex('t').select('id').orderBy('id')).map((r) => String(r.id));
  const newWriter = (savepoints = true) =>
    new GroupCommitWriter(knex, {
      concurrency: 1,
      maxBatch: 100,
      savepoints,
      attachOutbox: (trx, outbox) => outboxes.set(trx, outbox),
      committed: (events) => announced.push(events),
    });

  beforeEach(async () => {
    knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true, pool: { min: 1, max: 1 } });
    await knex.schema.createTable('t', (t) => t.string('id').primary());
    commits = 0;
    announced = [];
    knex.on('query', (q: { sql: string }) => {
      if (/^commit/i.test(q.sql)) commits++;
    });
  });
  afterEach(() => knex.destroy());

  it('commits calls made together in one transaction and answers each with its own result', async () => {
    const writer = newWriter();
    const got = await Promise.all(['a', 'b', 'c', 'd'].map((id) => write(writer, id)));
    assert.deepEqual(got, ['a', 'b', 'c', 'd']);
    assert.equal(commits, 1);
    assert.deepEqual(await rows(), ['a', 'b', 'c', 'd']);
    assert.deepEqual(announced.map((evs) => evs.map((e) => e.jobId)), [['a', 'b', 'c', 'd']]);
  });

  it('writes the events of a whole batch once, just before its COMMIT, without those of a call rolled back', async () => {
    const order: string[] = [];
    knex.on('query', (q: { sql: string }) => {
      if (/^commit/i.test(q.sql)) order.push('commit');
    });
    const writer = new GroupCommitWriter(knex, {
      concurrency: 1,
      maxBatch: 100,
      savepoints: true,
      attachOutbox: (trx, outbox) => outboxes.set(trx, outbox),
      flushOutbox: async (_trx, events) => void order.push(`flush ${events.map((e) => e.jobId).join('')}`),
      committed: (events) => announced.push(events),
    });
    await Promise.allSettled([write(writer, 'a'), write(writer, 'b', { failAfterWrite: true }), write(writer, 'c')]);
    await write(writer, 'd');
    assert.deepEqual(order, ['flush ac', 'commit', 'flush d', 'commit']);
  });

  it('refuses a write at once when too many wait (busy), and takes writes again once they went through', async () => {
    const writer = new GroupCommitWriter(knex, { concurrency: 1, maxBatch: 2, maxQueued: 3, savepoints: true, attachOutbox: (trx, outbox) => outboxes.set(trx, outbox), committed: () => {} });
    const waiting = ['a', 'b', 'c'].map((id) => write(writer, id));
    await assert.rejects(write(writer, 'd'), (err: Error & { kind?: string }) => err.kind === 'busy' && /busy: 3 writes are waiting/.test(err.message));
    await Promise.all(waiting);
    assert.equal(await write(writer, 'e'), 'e');
    assert.deepEqual(await rows(), ['a', 'b', 'c', 'e']);
  });

  it('batches what arrives while a commit runs into the next one, and runs at once when idle', async () => {
    const writer = newWriter();
    const first = write(writer, 'a');
    await new Promise((r) => setImmediate(r));
    // 'a' is committing: these wait for it, then go together.
    const rest = Promise.all(['b', 'c', 'd'].map((id) => write(writer, id)));
    await Promise.all([first, rest]);
    assert.equal(commits, 2);
  });

  it('rolls back a call that fails after writing, alone: its caller gets the error, its events are never announced', async () => {
    const writer = newWriter();
    const results = await Promise.allSettled([write(writer, 'a'), write(writer, 'b', { failAfterWrite: true }), write(writer, 'c')]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /refused b/);
    assert.deepEqual(await rows(), ['a', 'c']);
    assert.deepEqual(announced.flat().map((e) => e.jobId), ['a', 'c']);
    assert.equal(commits, 1);
  });

  it('without savepoints (MySQL): a call that fails rolls the batch back, runs again alone, and the others commit together again', async () => {
    const writer = newWriter(false);
    const statements: string[] = [];
    knex.on('query', (q: { sql: string }) => statements.push(q.sql));
    const results = await Promise.allSettled([write(writer, 'a'), write(writer, 'b', { failAfterWrite: true }), write(writer, 'c'), write(writer, 'd')]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    assert.match(String((results[1] as PromiseRejectedResult).reason), /refused b/);
    assert.deepEqual(await rows(), ['a', 'c', 'd']);
    assert.deepEqual(announced.flat().map((e) => e.jobId).sort(), ['a', 'c', 'd']);
    assert.ok(!statements.some((q) => /savepoint/i.test(q)), 'no savepoint was sent');
    assert.equal(commits, 1, "a, c and d committed together; b's own transaction rolled back");
    assert.deepEqual(announced.map((evs) => evs.map((e) => e.jobId)), [['a', 'c', 'd']]);
  });

  it('runs every call again alone when the batch as a whole fails, so the others still commit', async () => {
    const writer = newWriter();
    // Ends the transaction under the batch's feet, as a deadlock rollback on MySQL does.
    const breaker = writer.run(async (trx) => {
      await trx.raw('ROLLBACK');
      return 'x';
    });
    const results = await Promise.allSettled([write(writer, 'a'), breaker, write(writer, 'c')]);
    assert.equal(results[0]!.status, 'fulfilled');
    assert.equal(results[2]!.status, 'fulfilled');
    assert.equal(results[1]!.status, 'rejected', 'alone, the breaker fails its own transaction');
    assert.deepEqual(await rows(), ['a', 'c']);
    assert.deepEqual(announced.flat().map((e) => e.jobId).sort(), ['a', 'c']);
  });

  it('tells no caller anything before its transaction committed', async () => {
    const writer = newWriter();
    const seen: string[] = [];
    knex.on('query', (q: { sql: string }) => {
      if (/^commit/i.test(q.sql)) seen.push('commit');
    });
    await Promise.all(['a', 'b'].map((id) => write(writer, id).then(() => seen.push(`answer ${id}`))));
    assert.deepEqual(seen, ['commit', 'answer a', 'answer b']);
  });
});

describe('GroupCommitWriter: retries what the database rolled back (MySQL, Galera)', () => {
  it('runs a transaction again while its failure is retryable, and gives up after the attempts allowed', async () => {
    const knex = knexFactory({ client: 'better-sqlite3', connection: { filename: ':memory:' }, useNullAsDefault: true, pool: { min: 1, max: 1 } });
    try {
      const writer = new GroupCommitWriter(knex, {
        concurrency: 1,
        maxBatch: 100,
        savepoints: false,
        attachOutbox: () => {},
        committed: () => {},
        retry: { retryable: (err) => (err as Error).message === 'conflict', attempts: 3, delayMs: () => 1 },
      });
      let tries = 0;
      assert.equal(await writer.run(async () => (++tries < 3 ? Promise.reject(new Error('conflict')) : 'done')), 'done');
      assert.equal(tries, 3);
      tries = 0;
      await assert.rejects(writer.run(async () => (++tries, Promise.reject(new Error('conflict')))), /conflict/);
      assert.equal(tries, 3, 'three attempts in all');
      tries = 0;
      await assert.rejects(writer.run(async () => (++tries, Promise.reject(new Error('a real error')))), /a real error/);
      assert.equal(tries, 1, 'what is not retryable fails at once');
    } finally {
      await knex.destroy();
    }
  });
});
