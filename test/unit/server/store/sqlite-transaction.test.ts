import assert from 'node:assert/strict';
import type { Knex } from 'knex';
import { memorySqlite } from '../../../helpers/memory-sqlite.js';
import type { WrittenEvent } from '../../../../server/domain/records.js';
import { GroupCommitWriter } from '../../../../server/store/group-commit.js';
import { sqliteTransaction } from '../../../../server/store/sqlite-transaction.js';
import { statementsOf } from '../../../../server/store/statements.js';

/** The write path's SQLite transaction, BEGIN and COMMIT sent by itself: what commits, what rolls back, the connection always handed back. */
describe('sqliteTransaction: the write path on SQLite without Knex transactions', () => {
  let knex: Knex;
  /** The SQL run on the connection, as the driver saw it. */
  let sent: string[];
  const rows = async (table = 't') => (await knex(table).select('id').orderBy('id')).map((r) => String(r.id));
  /** A transaction that never ends would hold the pool's one connection: later reads would wait for ever. */
  const soon = <T>(p: Promise<T>) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error('timed out: the connection was not handed back')), 2000))]);

  beforeEach(async () => {
    sent = [];
    knex = memorySqlite((prepare) => (sql) => (sent.push(sql.replace(/;$/, '')), prepare(sql)));
    await knex.schema.createTable('t', (t) => t.string('id').primary());
    await knex.raw('create table child (id text primary key, parent text references t (id) deferrable initially deferred)');
    sent = [];
  });
  afterEach(() => knex.destroy());

  it('commits what the body wrote through query builders and through the prepared statements, in one BEGIN … COMMIT', async () => {
    const out = await sqliteTransaction(knex, async (trx) => {
      await trx('t').insert({ id: 'a' });
      await (await statementsOf(trx)).insert('t', [{ id: 'b' }]);
      assert.deepEqual((await trx('t').select('id').orderBy('id')).map((r) => r.id), ['a', 'b'], 'the body reads its own writes');
      return 'done';
    });
    assert.equal(out, 'done');
    assert.deepEqual(await rows(), ['a', 'b']);
    assert.equal(sent[0], 'BEGIN');
    assert.equal(sent.filter((s) => s === 'COMMIT').length, 1);
    assert.equal(sent.indexOf('COMMIT'), sent.length - 2, 'COMMIT comes after every write (the last statement is the read above)');
  });

  it('rolls back everything when the body throws, gives the caller that error, and hands the connection back', async () => {
    await assert.rejects(
      sqliteTransaction(knex, async (trx) => {
        await trx('t').insert({ id: 'a' });
        throw new Error('refused');
      }),
      /refused/,
    );
    assert.deepEqual(await soon(rows()), []);
    assert.ok(sent.includes('ROLLBACK'));
    await sqliteTransaction(knex, (trx) => trx('t').insert({ id: 'b' }));
    assert.deepEqual(await soon(rows()), ['b']);
  });

  it('rolls back a transaction whose COMMIT fails (a deferred foreign key), which leaves nothing behind', async () => {
    await assert.rejects(
      sqliteTransaction(knex, async (trx) => {
        await trx('t').insert({ id: 'a' });
        await trx('child').insert({ id: 'c', parent: 'missing' });
      }),
      /FOREIGN KEY/,
    );
    assert.deepEqual(await soon(rows()), []);
    assert.deepEqual(await soon(rows('child')), []);
    await sqliteTransaction(knex, (trx) => trx('t').insert({ id: 'b' }));
    assert.deepEqual(await soon(rows()), ['b']);
  });

  it('carries the group-commit writer: calls made together share one COMMIT, a failing one is rolled back alone', async () => {
    const announced: string[][] = [];
    const outboxes = new WeakMap<Knex.Transaction, WrittenEvent[]>();
    const writer = new GroupCommitWriter(knex, {
      concurrency: 1,
      maxBatch: 100,
      savepoints: true,
      transact: (body) => sqliteTransaction(knex, body),
      attachOutbox: (trx, outbox) => outboxes.set(trx, outbox),
      committed: (events) => announced.push(events.map((e) => e.jobId)),
    });
    const write = (id: string, fail = false) =>
      writer.run(async (trx) => {
        await trx('t').insert({ id });
        outboxes.get(trx)!.push({ jobId: id, queue: 'q', kind: 'state', state: 'QUEUED', attempt: 0, workerName: null, exitCode: null, signal: null, reason: '', at: 0 });
        if (fail) throw new Error(`refused ${id}`);
        return id;
      });
    const results = await Promise.allSettled([write('a'), write('b', true), write('c')]);
    assert.deepEqual(
      results.map((r) => (r.status === 'fulfilled' ? r.value : (r.reason as Error).message)),
      ['a', 'refused b', 'c'],
    );
    assert.equal(sent.filter((s) => s === 'COMMIT').length, 1);
    assert.deepEqual(announced, [['a', 'c']]);
    assert.deepEqual(await soon(rows()), ['a', 'c']);
  });
});
