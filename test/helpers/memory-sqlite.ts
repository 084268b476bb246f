import knexFactory, { type Knex } from 'knex';

type Prepare = (sql: string) => unknown;

/**
 * Knex on an in-memory SQLite database with one connection, as the store runs SQLite, foreign keys
 * on. `wrapPrepare` gets the connection's `prepare` and gives the one to use (to record the SQL
 * sent, or to keep statements prepared as open-store.ts does).
 */
export function memorySqlite(wrapPrepare: (prepare: Prepare) => Prepare): Knex {
  return knexFactory({
    client: 'better-sqlite3',
    connection: { filename: ':memory:' },
    useNullAsDefault: true,
    pool: {
      min: 1,
      max: 1,
      afterCreate: (conn: { prepare: Prepare; pragma(s: string): unknown }, done: (err: Error | null, conn: unknown) => void) => {
        conn.pragma('foreign_keys = ON');
        conn.prepare = wrapPrepare(conn.prepare.bind(conn));
        done(null, conn);
      },
    },
  });
}
