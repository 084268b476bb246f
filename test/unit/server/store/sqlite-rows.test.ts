import assert from 'node:assert/strict';
import type { Knex } from 'knex';
import { memorySqlite } from '../../../helpers/memory-sqlite.js';
import { sqliteTransaction } from '../../../../server/store/sqlite-transaction.js';
import { statementsOf, withPooledStatements } from '../../../../server/store/statements.js';

/**
 * The hot path reads SQLite rows as arrays and makes the objects itself; the prepared statement is
 * shared with Knex through the connection's cache (as open-store.ts keeps it), so Knex must still
 * get objects from it.
 */
describe('SQLite rows on the hot path: read as arrays, handed out as objects', () => {
  let knex: Knex;

  beforeEach(async () => {
    knex = memorySqlite((prepare) => {
      const cache = new Map<string, unknown>();
      return (sql) => cache.get(sql) ?? (cache.set(sql, prepare(sql)), cache.get(sql));
    });
    await knex.raw('create table `t` (`id` text primary key, `n` integer, `note` text)');
    await knex('t').insert([
      { id: 'a', n: 1, note: 'x' },
      { id: 'b', n: null, note: 'é😀' },
    ]);
  });
  afterEach(() => knex.destroy());

  const SELECT = 'select * from `t` where `id` in (?, ?) order by `id` asc';

  it('gives each row as an object of its columns, and Knex still gets objects from the same statement', async () => {
    const rows = await sqliteTransaction(knex, async (trx) => (await statementsOf(trx)).all(SELECT, ['a', 'b']));
    assert.deepEqual(rows, [
      { id: 'a', n: 1, note: 'x' },
      { id: 'b', n: null, note: 'é😀' },
    ]);
    const one = await sqliteTransaction(knex, async (trx) => (await statementsOf(trx)).one(SELECT, ['b', 'zz']));
    assert.deepEqual(one, { id: 'b', n: null, note: 'é😀' });
    assert.equal(await sqliteTransaction(knex, async (trx) => (await statementsOf(trx)).one(SELECT, ['y', 'zz'])), undefined);
    // The same SQL text through Knex: the statement was put back in object mode.
    assert.deepEqual(await knex.raw(SELECT, ['a', 'b']), rows);
  });

  it('reads on a pooled connection outside the write path, and hands the connection back', async () => {
    const rows = await withPooledStatements(knex, (sql) => sql.all(SELECT, ['a', 'b']));
    assert.equal(rows.length, 2);
    // The pool has one connection: a second read would wait for ever had the first kept it.
    assert.equal((await withPooledStatements(knex, (sql) => sql.all(SELECT, ['a', 'b']))).length, 2);
  });

  it('follows a schema change: `select *` has the new column once SQLite prepares the statement again', async () => {
    await withPooledStatements(knex, (sql) => sql.all(SELECT, ['a', 'b']));
    await knex.raw("alter table `t` add column `extra` text not null default 'd'");
    assert.deepEqual(await withPooledStatements(knex, (sql) => sql.one(SELECT, ['a', 'zz'])), { id: 'a', n: 1, note: 'x', extra: 'd' });
  });
});
