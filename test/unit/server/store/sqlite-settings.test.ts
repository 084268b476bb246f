import assert from 'node:assert/strict';
import { createSqliteDatabase, type TestDatabase } from '../../../helpers/databases.js';
import { KnexStore } from '../../../../server/store/knex-store.js';
import { openStore } from '../../../../server/store/open-store.js';

/** The settings every SQLite connection of the store gets: what durability and speed rest on. */
describe('SQLite store: connection settings', () => {
  let db: TestDatabase;
  let store: KnexStore;

  before(async () => {
    db = await createSqliteDatabase();
    store = openStore(db.url) as KnexStore;
  });
  after(async () => {
    await store.close();
    await db.drop();
  });

  const pragma = async (name: string) => Object.values(((await store.knex.raw(`PRAGMA ${name}`)) as Record<string, unknown>[])[0]!)[0];

  it('commits through a write-ahead log, each commit synced to disk (synchronous = FULL)', async () => {
    assert.equal(await pragma('journal_mode'), 'wal');
    assert.equal(await pragma('synchronous'), 2);
  });

  it('keeps savepoint journals and temporary tables in memory, not in temporary files', async () => {
    assert.equal(await pragma('temp_store'), 2);
  });

  it('enforces foreign keys and waits out a busy database', async () => {
    assert.equal(await pragma('foreign_keys'), 1);
    assert.equal(await pragma('busy_timeout'), 5000);
  });
});
