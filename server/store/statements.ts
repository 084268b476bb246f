import type { Knex } from 'knex';

type Row = Record<string, unknown>;

/**
 * The hot path's statements, written out once and run on the transaction's own connection: Knex
 * built, compiled and ran each of them anew, which cost more than the database's work. On SQLite
 * the statement comes prepared from the connection's cache (open-store.ts); on MySQL it is sent as
 * the same escaped text Knex would send. Identifiers are quoted with backticks, which both accept.
 * Knex stays for the schema and the rest.
 */
export interface Statements {
  one(sql: string, args?: unknown[]): Promise<Row | undefined>;
  all(sql: string, args?: unknown[]): Promise<Row[]>;
  /** Runs a write; resolves to the number of rows it changed. */
  run(sql: string, args?: unknown[]): Promise<number>;
  /** Inserts rows that all have the same columns, in one statement. */
  insert(table: string, rows: Row[]): Promise<void>;
  /**
   * Sets columns of a job and of one of its attempts: one multi-table UPDATE on MySQL, where every
   * statement is a round trip (ending an attempt was two of the 7.5 statements per job); two
   * statements on SQLite, which has no multi-table UPDATE and where a statement costs microseconds.
   */
  updateJobAndAttempt(jobId: string, attempt: number, jobSet: Row, attemptSet: Row): Promise<void>;
  /**
   * Runs `body` with its updateJobAndAttempt calls held back, then sends them: on MySQL those that
   * set the same columns go as one multi-row UPDATE (the reports of a ReportJobStates call were two
   * round trips per job, most of the write path's time on MariaDB); on SQLite each at once, as
   * outside. The body must not read back what it updates, nor update one job twice.
   */
  withBatchedUpdates<T>(body: () => Promise<T>): Promise<T>;
}

interface SqliteStatement {
  reader: boolean;
  get(args: unknown[]): unknown;
  all(args: unknown[]): unknown[];
  run(args: unknown[]): { changes: number };
  raw(on: boolean): SqliteStatement;
  columns(): { name: string }[];
}
interface SqliteConnection {
  prepare(sql: string): SqliteStatement;
}
interface MysqlConnection {
  query(opts: { sql: string; values: unknown[] }, cb: (err: Error | null, result: unknown) => void): void;
}

const cache = new WeakMap<Knex.Transaction, Statements>();

/** The statements of a transaction (its connection is its own until it ends). */
export async function statementsOf(trx: Knex.Transaction): Promise<Statements> {
  const known = cache.get(trx);
  if (known) return known;
  const conn = (await (trx.client as { acquireConnection(): Promise<unknown> }).acquireConnection()) as SqliteConnection | MysqlConnection;
  const made = statementsOn(trx.client, conn);
  cache.set(trx, made);
  return made;
}

/**
 * Statements on a connection of the pool, for a read outside the write path (the change log's
 * reader, on every poll); the connection goes back once `body` is done.
 */
export async function withPooledStatements<T>(knex: Knex, body: (sql: Statements) => Promise<T>): Promise<T> {
  const client = knex.client as { acquireConnection(): Promise<unknown>; releaseConnection(conn: unknown): Promise<unknown> };
  const conn = (await client.acquireConnection()) as SqliteConnection | MysqlConnection;
  try {
    return await body(statementsOn(knex.client, conn));
  } finally {
    await client.releaseConnection(conn);
  }
}

function statementsOn(client: Knex.Client, conn: SqliteConnection | MysqlConnection): Statements {
  return String(client.config.client).includes('sqlite') ? sqliteStatements(conn as SqliteConnection) : mysqlStatements(conn as MysqlConnection);
}

// As Knex binds them for SQLite: booleans are 0/1 and absent values NULL.
const sqliteArgs = (args: unknown[]) => args.map((a) => (typeof a === 'boolean' ? Number(a) : a === undefined ? null : a));

/** Column names of prepared statements, asked once each (a native call), again if the row's width changed. */
const columnNames = new WeakMap<SqliteStatement, string[]>();

/**
 * Rows read as arrays and made objects here: better-sqlite3 builds each row object property by
 * property in native code, which for the 26 columns of a job took 14 µs a row, 60% of the claim's
 * read of the queue and of the reports' read of their jobs. The statement is shared with Knex (the
 * connection's cache), so it is put back in object mode at once; better-sqlite3 runs synchronously.
 */
function readRows(statement: SqliteStatement, args: unknown[], first: boolean): Row[] {
  let columns = columnNames.get(statement);
  if (!columns) columnNames.set(statement, (columns = statement.columns().map((c) => c.name)));
  statement.raw(true);
  let values: unknown[][];
  try {
    values = (first ? [statement.get(args)].filter((v) => v !== undefined) : statement.all(args)) as unknown[][];
  } finally {
    statement.raw(false);
  }
  // SQLite prepares a statement again after a schema change: a `select *` may then have other columns.
  if (values.length && values[0]!.length !== columns.length) columnNames.set(statement, (columns = statement.columns().map((c) => c.name)));
  const names = columns;
  return values.map((v) => {
    const row: Row = {};
    for (let i = 0; i < names.length; i++) row[names[i]!] = v[i];
    return row;
  });
}

function sqliteStatements(conn: SqliteConnection): Statements {
  const run = async (sql: string, args: unknown[] = []) => conn.prepare(sql).run(sqliteArgs(args)).changes;
  return {
    one: async (sql, args = []) => readRows(conn.prepare(sql), sqliteArgs(args), true)[0],
    all: async (sql, args = []) => readRows(conn.prepare(sql), sqliteArgs(args), false),
    run,
    insert: (table, rows) => insertWith(run, table, rows),
    updateJobAndAttempt: async (jobId, attempt, jobSet, attemptSet) => {
      await run(`update \`job_attempts\` set ${assignments(attemptSet)} where \`job_id\` = ? and \`attempt\` = ?`, [...Object.values(attemptSet), jobId, attempt]);
      await run(`update \`jobs\` set ${assignments(jobSet)} where \`id\` = ?`, [...Object.values(jobSet), jobId]);
    },
    withBatchedUpdates: (body) => body(),
  };
}

function mysqlStatements(conn: MysqlConnection): Statements {
  const query = (sql: string, args: unknown[]) =>
    new Promise<unknown>((resolve, reject) => conn.query({ sql, values: args.map((a) => (a === undefined ? null : a)) }, (err, result) => (err ? reject(err) : resolve(result))));
  const run = async (sql: string, args: unknown[] = []) => Number(((await query(sql, args)) as { affectedRows?: number }).affectedRows ?? 0);
  // LEFT JOIN: the job's row is set even if its attempt's row were missing, as with two statements.
  const updateOne = async ({ jobId, attempt, jobSet, attemptSet }: HeldUpdate) => {
    await run(
      `update \`jobs\` j left join \`job_attempts\` a on a.\`job_id\` = j.\`id\` and a.\`attempt\` = ? ` +
        `set ${assignments(attemptSet, 'a.')}, ${assignments(jobSet, 'j.')} where j.\`id\` = ?`,
      [attempt, ...Object.values(attemptSet), ...Object.values(jobSet), jobId],
    );
  };
  let held: HeldUpdate[] | undefined;
  return {
    one: async (sql, args = []) => ((await query(sql, args)) as Row[])[0],
    all: async (sql, args = []) => (await query(sql, args)) as Row[],
    run,
    insert: (table, rows) => insertWith(run, table, rows),
    updateJobAndAttempt: async (jobId, attempt, jobSet, attemptSet) => {
      if (held) held.push({ jobId, attempt, jobSet, attemptSet });
      else await updateOne({ jobId, attempt, jobSet, attemptSet });
    },
    withBatchedUpdates: async (body) => {
      if (held) return body();
      const mine: HeldUpdate[] = (held = []);
      let out;
      try {
        out = await body();
      } finally {
        held = undefined;
      }
      for (const group of sameColumns(mine)) await (group.length === 1 ? updateOne(group[0]!) : run(...updateMany(group)));
      return out;
    },
  };
}

interface HeldUpdate {
  jobId: string;
  attempt: number;
  jobSet: Row;
  attemptSet: Row;
}

/** The held updates grouped by the columns they set, in the order each group first appeared. */
function sameColumns(updates: HeldUpdate[]): HeldUpdate[][] {
  const groups = new Map<string, HeldUpdate[]>();
  for (const u of updates) {
    const key = `${Object.keys(u.jobSet).join()}|${Object.keys(u.attemptSet).join()}`;
    const group = groups.get(key);
    if (group) group.push(u);
    else groups.set(key, [u]);
  }
  return [...groups.values()];
}

/**
 * One MySQL UPDATE setting the same columns of several jobs and their attempts, each to its own
 * values: the values come as a derived table (`select ? as …  union all select …`) joined to both.
 */
function updateMany(group: HeldUpdate[]): [string, unknown[]] {
  const jobColumns = Object.keys(group[0]!.jobSet);
  const attemptColumns = Object.keys(group[0]!.attemptSet);
  const names = ['id', 'attempt', ...jobColumns.map((_, i) => `j${i}`), ...attemptColumns.map((_, i) => `a${i}`)];
  const first = `select ${names.map((n) => `? as \`${n}\``).join(', ')}`;
  const rest = `select ${names.map(() => '?').join(', ')}`;
  const values = group.map((_, i) => (i === 0 ? first : rest)).join(' union all ');
  const set = [...attemptColumns.map((c, i) => `a.\`${c}\` = v.\`a${i}\``), ...jobColumns.map((c, i) => `j.\`${c}\` = v.\`j${i}\``)].join(', ');
  const sql =
    `update (${values}) v join \`jobs\` j on j.\`id\` = v.\`id\` ` +
    `left join \`job_attempts\` a on a.\`job_id\` = v.\`id\` and a.\`attempt\` = v.\`attempt\` set ${set}`;
  const args = group.flatMap((u) => [u.jobId, u.attempt, ...jobColumns.map((c) => u.jobSet[c]), ...attemptColumns.map((c) => u.attemptSet[c])]);
  return [sql, args];
}

/** `a = ?, b = ?` for the columns of `set`, in its order, each qualified by `table` when given. */
function assignments(set: Row, table = ''): string {
  return Object.keys(set)
    .map((c) => `${table}\`${c}\` = ?`)
    .join(', ');
}

async function insertWith(run: Statements['run'], table: string, rows: Row[]): Promise<void> {
  if (!rows.length) return;
  const columns = Object.keys(rows[0]!);
  const sql = `insert into \`${table}\` (${columns.map((c) => `\`${c}\``).join(', ')}) values ${valuesList(rows.length, columns.length)}`;
  await run(sql, rows.flatMap((r) => columns.map((c) => r[c])));
}

/** `(?, ?, …), (?, ?, …)` for a multi-row INSERT of `rows` rows of `columns` values. */
export function valuesList(rows: number, columns: number): string {
  const one = `(${new Array(columns).fill('?').join(', ')})`;
  return new Array(rows).fill(one).join(', ');
}
