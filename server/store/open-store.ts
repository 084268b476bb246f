import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { redactUrl } from '../../shared/database-url.js';
import { tightenFiles } from '../../shared/private-files.js';
import { useClusterInfo } from './job-events.js';
import { KnexStore } from './knex-store.js';
import { HostChoice, mysqlConfig, parseMysqlUrl, watchConnections, type ClusterInfo } from './mysql-connection.js';
import type { Store, StoreOptions } from './store.js';

/**
 * Opens the store a database URL names: `sqlite:PATH` (the embedded default) or
 * `mysql://user:pass@host:port/db` (MySQL or MariaDB, the production store), or
 * `mysql://user:pass@host1:port1,host2:port2,host3:port3/db` (the nodes of a Galera cluster, with failover).
 */
export function openStore(databaseUrl: string, opts: StoreOptions = {}): Store {
  if (databaseUrl.startsWith('sqlite:')) return new KnexStore(knexFactory(sqliteConfig(databaseUrl.slice('sqlite:'.length))), 'sqlite', opts);
  if (databaseUrl.startsWith('mysql://') || databaseUrl.startsWith('mariadb://')) {
    const cluster: ClusterInfo = { galera: false };
    const parsed = parseMysqlUrl(databaseUrl.replace(/^mariadb:/, 'mysql:'));
    const choice = new HostChoice(parsed.hosts);
    const knex = knexFactory(mysqlConfig(parsed, cluster, choice));
    watchConnections(knex, choice, parsed, cluster);
    useClusterInfo(knex, cluster);
    // The revocation mark on a connection of its own: every call may wait for that read, which must
    // not queue behind a burst of other queries in the main pool (10,000 workers connecting at once
    // held every call for seconds that way).
    const marks = knexFactory(mysqlConfig({ ...parsed, poolMax: 1 }, cluster, choice));
    return new KnexStore(knex, 'mysql', opts, Object.assign(cluster, { marks }));
  }
  throw new Error(`unsupported database URL "${redactUrl(databaseUrl)}": use sqlite:PATH or mysql://user:pass@host:port/db`);
}

function sqliteConfig(file: string): Knex.Config {
  if (!file) throw new Error('sqlite: URL needs a file path, e.g. sqlite:./edge.db');
  requireSqliteDriver();
  // A folder made here is 0700; the database files are 0600 even when an older version left them readable.
  fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true, mode: 0o700 });
  return {
    client: 'better-sqlite3',
    useNullAsDefault: true,
    connection: { filename: file },
    pool: {
      min: 1,
      max: 1,
      // WAL lets readers proceed beside the one writer; the busy timeout rides out checkpoints.
      afterCreate: (conn: SqliteConnection, done: (err: Error | null, conn: unknown) => void) => {
        cachePreparedStatements(conn);
        conn.pragma('journal_mode = WAL');
        // Every commit reaches the disk before anyone hears of it (a power cut loses nothing
        // acknowledged); group commit (group-commit.ts) makes one fsync serve many callers.
        conn.pragma('synchronous = FULL');
        conn.pragma('busy_timeout = 5000');
        conn.pragma('foreign_keys = ON');
        // The write path runs each operation in a savepoint: SQLite keeps the pages a savepoint may
        // have to restore in a sub-journal, which spilled to a temporary file past 64 KiB (thousands
        // of writes a second under load). It is never needed after a crash, so memory holds it.
        conn.pragma('temp_store = MEMORY');
        tightenFiles([file, `${file}-wal`, `${file}-shm`]);
        done(null, conn);
      },
    },
  };
}

interface SqliteConnection {
  pragma(s: string): unknown;
  prepare(sql: string): unknown;
}

/** Statements kept prepared per connection; the hot path uses a few dozen. */
const PREPARED_STATEMENTS = 500;

/**
 * Knex asks the driver to prepare every statement anew, which took a quarter of the server's time
 * per job: the connection keeps the statements it prepared, by their SQL, and hands them out again.
 * better-sqlite3 runs a statement to its end synchronously, so one is never in use twice at once.
 */
function cachePreparedStatements(conn: SqliteConnection): void {
  const prepare = conn.prepare.bind(conn);
  const cache = new Map<string, unknown>();
  conn.prepare = (sql: string) => {
    let statement = cache.get(sql);
    if (statement === undefined) {
      statement = prepare(sql);
      if (cache.size >= PREPARED_STATEMENTS) cache.delete(cache.keys().next().value!);
      cache.set(sql, statement);
    }
    return statement;
  };
}

/**
 * better-sqlite3 is an optional dependency: it needs a compiler where no prebuilt binary fits, and a
 * worker-only install goes without it. Said here, before knex's own "Cannot find module".
 */
function requireSqliteDriver(): void {
  try {
    // Opening a memory database proves the native part is built too, not only that the package is there.
    const Database = createRequire(import.meta.url)('better-sqlite3') as new (file: string) => { close(): void };
    new Database(':memory:').close();
  } catch (err) {
    throw new Error(
      `the SQLite driver (better-sqlite3) cannot be loaded here (${(err as Error).message.split('\n')[0]}), as in a worker-only install: ` +
        'give the server a MySQL/MariaDB database (--database mysql://user:pass@host:3306/db or EDGE_DATABASE_URL), ' +
        'or install the full CLI on a machine where better-sqlite3 can build (README, "Installing")',
    );
  }
}
