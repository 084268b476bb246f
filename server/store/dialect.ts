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
  /** Locks what it reads, skipping rows another transaction holds (MySQL); as is on SQLite. */
  lockedSkippingLocked<T extends Knex.QueryBuilder>(q: T): T;
  /** The jobs table as claims read it: through jobs_claim_idx. */
  claimSource(trx: Knex.Transaction): Knex.QueryBuilder;
  /** The same three, as SQL text for the written-out statements of statements.ts. */
  readonly sql: { forUpdate: string; forUpdateSkipLocked: string; claimTable: string };
}

export function dialectOf(name: DialectName): Dialect {
  const mysql = name === 'mysql';
  return {
    name,
    locked: (q) => (mysql ? q.forUpdate() : q) as typeof q,
    lockedSkippingLocked: (q) => (mysql ? q.forUpdate().skipLocked() : q) as typeof q,
    // Tiny tables tempt MySQL into a full scan and sort, which locks every row: insist on the index.
    claimSource: (trx) => (mysql ? trx.from(trx.raw('jobs FORCE INDEX (jobs_claim_idx)')) : trx('jobs')),
    sql: mysql
      ? { forUpdate: ' for update', forUpdateSkipLocked: ' for update skip locked', claimTable: '`jobs` FORCE INDEX (jobs_claim_idx)' }
      : { forUpdate: '', forUpdateSkipLocked: '', claimTable: '`jobs`' },
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
