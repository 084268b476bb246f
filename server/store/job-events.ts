import type { Knex } from 'knex';
import { retryableFailure, TRANSACTION_RETRY } from './dialect.js';
import { WORKER_LOST, type EventFilter, type JobEventRecord, type JobRecord, type WrittenEvent } from '../domain/records.js';
import { GroupCommitWriter, type TransactionBody } from './group-commit.js';
import { statementsOf, valuesList, withPooledStatements } from './statements.js';
import { sqliteTransaction } from './sqlite-transaction.js';

type Db = Knex | Knex.Transaction;
type NewEvent = WrittenEvent;
export type CommittedEvents = (events: NewEvent[]) => void;

/*
 * The after-commit path: every event a transaction writes is kept beside it and handed to the
 * subscribers of its database once it has committed (never when it rolls back). Store operations
 * run their transactions through transaction() below, so none can forget to announce what it did.
 */
const OUTBOX = Symbol('events written in this transaction');
const COUNTED = Symbol('change-log numbers come from the counter row');
type WithOutbox = { [OUTBOX]?: NewEvent[]; [COUNTED]?: boolean };
const subscribers = new WeakMap<Knex, Set<CommittedEvents>>();
const clusters = new WeakMap<Knex, { galera: boolean }>();

/** Tells the change log of this database whether it runs on Galera (the connection layer finds out). */
export function useClusterInfo(knex: Knex, cluster: { galera: boolean }): void {
  clusters.set(knex, cluster);
}

/** Calls `fn` with the events of every commit on this database; returns the unsubscribe. */
export function onCommitted(knex: Knex, fn: CommittedEvents): () => void {
  let set = subscribers.get(knex);
  if (!set) subscribers.set(knex, (set = new Set()));
  set.add(fn);
  return () => set.delete(fn);
}

function announce(knex: Knex, events: NewEvent[]): void {
  for (const fn of subscribers.get(knex) ?? []) fn(events);
}

const writers = new WeakMap<Knex, GroupCommitWriter>();

/**
 * A transaction whose events are announced once it commits. It joins the database's one write path
 * (group-commit.ts): it may share its commit with other callers' transactions, and on MySQL/MariaDB
 * it runs again from the start when the database rolled it back for a conflict (on Galera: a
 * certification failure at commit) or lost the connection before COMMIT (a node died: the pool
 * reconnects elsewhere). So its body must be re-runnable and touch nothing outside the database.
 */
/** Writes that may wait for the database at once, per store; a restart of 10,000 workers queues about that many. */
export const MAX_QUEUED_WRITES = 20_000;

export function transaction<T>(knex: Knex, body: TransactionBody<T>): Promise<T> {
  let writer = writers.get(knex);
  if (!writer) {
    const sqlite = String(knex.client.config.client).includes('sqlite');
    writer = new GroupCommitWriter(knex, {
      // One batch at a time on both: SQLite has one writer anyway. On MariaDB, four batches at once
      // made batches of 1.7 jobs, and every commit costs an fsync and a round trip: with one at a
      // time a commit carried 7.5 jobs, the statements per job fell by a third and the server's CPU
      // per job by a quarter (control plane, alternated runs; docs/performance.md, seventh pass).
      concurrency: 1,
      maxBatch: 200,
      savepoints: sqlite,
      transact: sqlite ? (body) => sqliteTransaction(knex, body) : undefined,
      // Bounded: a few seconds of writes at the fastest rate measured; past that, callers hear Unavailable.
      maxQueued: MAX_QUEUED_WRITES,
      attachOutbox: (trx, outbox) => {
        (trx as unknown as WithOutbox)[OUTBOX] = outbox;
        (trx as unknown as WithOutbox)[COUNTED] = clusters.get(knex)?.galera ?? false;
      },
      committed: (events) => announce(knex, events),
      flushOutbox: writeOutbox,
      retry: sqlite
        ? undefined
        : {
            retryable: retryableFailure,
            attempts: TRANSACTION_RETRY.attempts,
            // Jittered, so that two nodes' losers do not collide again in step.
            delayMs: (attempt) => Math.random() * Math.min(TRANSACTION_RETRY.maxDelayMs, TRANSACTION_RETRY.firstDelayMs * 2 ** (attempt - 1)),
          },
    });
    writers.set(knex, writer);
  }
  return writer.run(body);
}

/** The event that records `job` entering its current state. */
export function stateEvent(job: JobRecord, at: number): NewEvent {
  return {
    jobId: job.id,
    queue: job.queue,
    kind: 'state',
    state: job.state,
    attempt: job.attempt,
    workerName: job.workerName,
    exitCode: job.exitCode,
    signal: job.signal,
    reason: job.reason,
    at,
  };
}

/** An operator changed a worker: the replica holding its stream pushes the new settings. */
export function workerEvent(workerName: string, at: number, reason: '' | typeof WORKER_LOST = ''): NewEvent {
  // Job fields are empty for worker events; readers look at `kind` first.
  return { jobId: '', queue: '', kind: 'worker', state: '' as JobEventRecord['state'], attempt: 0, workerName, exitCode: null, signal: null, reason, at };
}

const EVENT_COLUMNS = '`at`, `attempt`, `exit_code`, `job_id`, `kind`, `queue`, `reason`, `signal`, `state`, `worker_name`';
const eventValues = (e: NewEvent) => [e.at, e.attempt, e.exitCode, e.jobId, e.kind, e.queue, e.reason, e.signal, e.state, e.workerName];

export async function insertEvents(db: Db, events: NewEvent[]): Promise<void> {
  if (!events.length) return;
  const outbox = (db as unknown as WithOutbox)[OUTBOX];
  if (!outbox && clusters.get(db as Knex)?.galera) {
    // The counter row below needs a transaction around it.
    return transaction(db as Knex, (trx) => insertEvents(trx, events));
  }
  if (outbox) {
    // Written with the rest of its transaction's events just before COMMIT (writeOutbox).
    outbox.push(...events);
    return;
  }
  if ('isTransaction' in db && db.isTransaction) {
    await writeEvents(db as Knex.Transaction, events);
  } else {
    await db('job_events').insert(
      events.map((e) => ({
        job_id: e.jobId,
        queue: e.queue,
        kind: e.kind,
        state: e.state,
        attempt: e.attempt,
        worker_name: e.workerName,
        exit_code: e.exitCode,
        signal: e.signal,
        reason: e.reason,
        at: e.at,
      })),
    );
  }
  // Outside a transaction the insert is its own commit.
  announce(db as Knex, events);
}

/** Rows per insert of events: far below MySQL's and SQLite's limits on bound values. */
const EVENTS_PER_INSERT = 500;

/**
 * The events a write-path transaction collected, in a few multi-row inserts (one for most batches)
 * rather than one per operation: on MySQL every statement is a round trip, and events were a fifth of
 * the statements per job. The group-commit writer calls it just before COMMIT.
 */
export async function writeOutbox(trx: Knex.Transaction, events: NewEvent[]): Promise<void> {
  for (let i = 0; i < events.length; i += EVENTS_PER_INSERT) await writeEvents(trx, events.slice(i, i + EVENTS_PER_INSERT));
}

async function writeEvents(trx: Knex.Transaction, events: NewEvent[]): Promise<void> {
  const first = (trx as unknown as WithOutbox)[COUNTED] ? await takeNumbers(trx, events.length) : undefined;
  const sql = await statementsOf(trx);
  if (first === undefined) {
    await sql.run(`insert into \`job_events\` (${EVENT_COLUMNS}) values ${valuesList(events.length, 10)}`, events.flatMap(eventValues));
  } else {
    await sql.run(
      `insert into \`job_events\` (\`seq\`, ${EVENT_COLUMNS}) values ${valuesList(events.length, 11)}`,
      events.flatMap((e, i) => [first + i, ...eventValues(e)]),
    );
  }
}

/**
 * Galera: AUTO_INCREMENT hands each node every third number, so the log would have permanent gaps and
 * a number taken on one node could commit after a higher one taken on another. The counter row gives
 * numbers without gaps in commit order instead: its lock is held to COMMIT, and two nodes taking
 * numbers at once conflict at certification, the loser running again (transaction() above). Every
 * node commits in the cluster's one order, so readers on any node see the log grow as a prefix.
 * GREATEST catches up with numbers taken by AUTO_INCREMENT before the database joined a cluster.
 */
async function takeNumbers(trx: Knex.Transaction, count: number): Promise<number> {
  await trx('job_event_seq')
    .where({ id: 1 })
    .update({ last: trx.raw('LAST_INSERT_ID(GREATEST(last, (SELECT COALESCE(MAX(seq), 0) FROM job_events)) + ?)', [count]) });
  const [rows] = (await trx.raw('SELECT LAST_INSERT_ID() AS last')) as [Array<{ last: number | string }>];
  return Number(rows[0]!.last) - count + 1;
}

export async function readEvents(knex: Knex, afterSeq: number, limit: number, filter: EventFilter = {}): Promise<JobEventRecord[]> {
  const where = ['`seq` > ?'];
  const args: unknown[] = [afterSeq];
  if (filter.queue) {
    where.push('`queue` = ?');
    args.push(filter.queue);
  }
  if (filter.jobIds?.length) {
    where.push(`\`job_id\` in (${filter.jobIds.map(() => '?').join(', ')})`);
    args.push(...filter.jobIds);
  }
  const sql = `select * from \`job_events\` where ${where.join(' and ')} order by \`seq\` asc limit ${Math.trunc(limit)}`;
  const rows = await withPooledStatements(knex, (statements) => statements.all(sql, args));
  return rows.map((r) => ({
    seq: Number(r.seq),
    jobId: String(r.job_id),
    queue: String(r.queue),
    kind: r.kind as JobEventRecord['kind'],
    state: r.state as JobEventRecord['state'],
    attempt: Number(r.attempt),
    workerName: (r.worker_name as string | null) ?? null,
    exitCode: r.exit_code === null || r.exit_code === undefined ? null : Number(r.exit_code),
    signal: (r.signal as string | null) ?? null,
    reason: String(r.reason ?? ''),
    at: Number(r.at),
  }));
}

export async function lastEventSeq(db: Db): Promise<number> {
  const row = await db('job_events').max({ seq: 'seq' }).first();
  return Number(row?.seq ?? 0);
}
