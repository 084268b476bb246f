import type { Knex } from 'knex';
import type { TransactionBody } from './group-commit.js';

interface SqliteConnection {
  prepare(sql: string): { run(): unknown };
  readonly inTransaction: boolean;
}

/**
 * Runs a write-path transaction on SQLite with BEGIN and COMMIT sent straight to the connection:
 * Knex's transaction took about 100 µs of the event loop per transaction for its bookkeeping
 * (a client per transaction, its own query runner for BEGIN and COMMIT), beside 1–2 µs for the
 * statements themselves. The body gets what it uses of a Knex transaction: query builders bound to
 * the connection (`trx('jobs')`), `raw`, and the client the hot path's statements come from.
 * SQLite has one connection and one writer: the connection is taken from the pool for the whole
 * transaction, as Knex does.
 */
export async function sqliteTransaction<T>(knex: Knex, body: TransactionBody<T>): Promise<T> {
  const conn = (await knex.client.acquireConnection()) as SqliteConnection;
  try {
    conn.prepare('BEGIN').run();
    try {
      const out = await body(boundTo(knex, conn));
      conn.prepare('COMMIT').run();
      return out;
    } catch (err) {
      // A failed COMMIT may leave the transaction open (SQLITE_BUSY): it is rolled back, as Knex does.
      if (conn.inTransaction) conn.prepare('ROLLBACK').run();
      throw err;
    }
  } finally {
    await knex.client.releaseConnection(conn);
  }
}

function boundTo(knex: Knex, conn: SqliteConnection): Knex.Transaction {
  const trx = ((table: string) => knex(table).connection(conn)) as unknown as Knex.Transaction & { isTransaction: boolean };
  Object.assign(trx, {
    isTransaction: true,
    raw: knex.raw.bind(knex),
    client: { config: knex.client.config, acquireConnection: async () => conn },
  });
  return trx;
}
