import type { Knex } from 'knex';
import type { RetryPolicy } from './attempt-outcome.js';

export type DialectName = 'sqlite' | 'mysql';

/**
 * Every difference between the two databases the store runs on, in one place. MySQL has row locks
 * (FOR UPDATE, SKIP LOCKED) and an optimizer that must be told which index to use; SQLite
 * serializes writers, which gives the same guarantees without them.
 */
export interface Dialect {
  readonly name: DialectName;
  /** Locks the rows the query reads until the transaction ends (MySQL); as is on SQLite. */
  locked<T extends Knex.QueryBuilder>(q: T): T;
  /**
   * For the written-out statements of statements.ts: the lock clause, the same skipping rows another
   * transaction holds (claims), the jobs table as claims read it, through jobs_claim_idx, and the
   * jobs' state column as a statement that names the jobs by id checks it (`stateBesideId`).
   */
  readonly sql: { forUpdate: string; forUpdateSkipLocked: string; claimTable: string; stateBesideId: string };
  /**
   * On a Galera cluster AUTO_INCREMENT steps by the cluster size on each node, so the change log takes
   * its numbers from a counter row instead (see job-events.ts). Known once a connection has been made.
   */
  readonly galera: boolean;
}

/**
 * Whether a failed transaction may run again from the start: the database says it rolled back
 * (deadlock — on Galera also a certification conflict —, lock wait timeout, a node not ready for
 * queries), or the connection was lost before the body finished, so COMMIT was never sent. A
 * connection lost during COMMIT is not retried: the commit may have happened.
 */
export function retryableFailure(err: unknown, committing: boolean): boolean {
  const e = err as { errno?: number; code?: string } | undefined;
  if (!e) return false;
  if (e.errno === 1213 || e.errno === 1205 || e.errno === 1047) return true;
  if (committing) return false;
  return CONNECTION_LOST.has(e.code ?? '') || e.errno === 2013 || e.errno === 2006;
}

const CONNECTION_LOST = new Set(['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ER_CONNECTION_KILLED']);

/** How a transaction is run again after a retryable failure. */
export const TRANSACTION_RETRY = {
  /** Attempts in all, the first included: enough to ride out a node loss and a run of conflicts. */
  attempts: 30,
  firstDelayMs: 2,
  maxDelayMs: 500,
};

export function dialectOf(name: DialectName, cluster: { galera: boolean } = { galera: false }): Dialect {
  const mysql = name === 'mysql';
  return {
    name,
    get galera() {
      return cluster.galera;
    },
    locked: (q) => (mysql ? q.forUpdate() : q) as typeof q,
    // Tiny tables tempt MySQL into a full scan and sort, which locks every row: claims insist on the index.
    sql: mysql
      ? { forUpdate: ' for update', forUpdateSkipLocked: ' for update skip locked', claimTable: '`jobs` FORCE INDEX (jobs_claim_idx)', stateBesideId: '`state`' }
      : // SQLite has no statistics: for `id in (…) and state = 'QUEUED'` it took jobs_claim_idx and read
        // every QUEUED job, per claim (5.7 ms with 100,000 queued). The unary plus keeps the state
        // out of the index choice, so the id's unique index is used.
        { forUpdate: '', forUpdateSkipLocked: '', claimTable: '`jobs`', stateBesideId: '+`state`' },
  };
}

/** What every store operation works with. */
export interface StoreDb {
  knex: Knex;
  dialect: Dialect;
  /** Server time, for stamps taken inside transactions. */
  clock: () => number;
  retry: RetryPolicy;
}
