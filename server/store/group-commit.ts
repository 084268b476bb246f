import type { Knex } from 'knex';
import type { WrittenEvent } from '../domain/records.js';
import { StoreError } from './errors.js';
import { statementsOf } from './statements.js';

/** A transaction body: re-runnable, with no effect outside the database before it commits. */
export type TransactionBody<T> = (trx: Knex.Transaction) => Promise<T>;

interface Op {
  body: TransactionBody<unknown>;
  resolve(value: unknown): void;
  reject(err: unknown): void;
}

export interface GroupCommitOptions {
  /** Batches committing at once: 1 for SQLite (one writer anyway); more on MySQL, each on its own connection. */
  concurrency: number;
  /** The most operations one transaction carries. */
  maxBatch: number;
  /**
   * Whether each operation runs inside its own savepoint (SQLite, where a statement costs a
   * microsecond). Without (MySQL, where SAVEPOINT and RELEASE were a quarter of the statements sent
   * per job, each a round trip), an operation's error rolls the whole batch back: that operation runs
   * again alone, for its caller to hear its error, and the others go back to be batched again.
   */
  savepoints: boolean;
  /**
   * The most operations waiting for a batch: beyond it a new one is refused at once (StoreError
   * 'busy', Unavailable on the wire) rather than queued for longer than any caller would wait.
   */
  maxQueued?: number;
  /** Runs one transaction; Knex's `transaction` when absent. */
  transact?: <T>(body: TransactionBody<T>) => Promise<T>;
  /** Gives the transaction's array that the bodies' events are written to (see job-events.ts). */
  attachOutbox(trx: Knex.Transaction, outbox: WrittenEvent[]): void;
  /** Writes the events the transaction's operations collected, just before its COMMIT. */
  flushOutbox?(trx: Knex.Transaction, outbox: WrittenEvent[]): Promise<void>;
  /** Called with the events of a batch once it has committed, before any caller hears of it. */
  committed(events: WrittenEvent[]): void;
  /**
   * MySQL: whether a transaction that failed may run again from the start (the database rolled it
   * back, or the connection was lost before COMMIT); `committing` says COMMIT had been sent, and a
   * failure then that is not a rollback leaves the outcome unknown. Absent (SQLite): nothing is retried.
   */
  retry?: { retryable(err: unknown, committing: boolean): boolean; attempts: number; delayMs(attempt: number): number };
}

/**
 * The one write path: every store transaction goes through here. Whatever arrived while the previous
 * batch committed runs in one transaction, each operation inside its own savepoint, and every caller
 * hears of its result only after that transaction committed. Idle, an operation starts at once (after
 * the current turn of the event loop, so that calls made together travel together); under load,
 * batches grow by themselves. One commit (one fsync on MySQL, one WAL append on SQLite) then serves
 * many callers, which is where the time per job went.
 *
 * An operation that throws is rolled back to its savepoint and only its caller gets the error. When
 * the batch as a whole fails (a deadlock the database resolved by rolling it back, a lost connection)
 * each operation runs again alone, so one bad operation never fails its neighbours.
 */
export class GroupCommitWriter {
  private queue: Op[] = [];
  private running = 0;
  private scheduled = false;

  private readonly transact: <T>(body: TransactionBody<T>) => Promise<T>;

  constructor(knex: Knex, private readonly opts: GroupCommitOptions) {
    this.transact = opts.transact ?? ((body) => knex.transaction(body));
  }

  run<T>(body: TransactionBody<T>): Promise<T> {
    if (this.queue.length >= (this.opts.maxQueued ?? Infinity)) {
      return Promise.reject(new StoreError('busy', `the server is busy: ${this.queue.length} writes are waiting for the database; retry in a second`));
    }
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ body, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.running >= this.opts.concurrency) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    while (this.running < this.opts.concurrency && this.queue.length) {
      const batch = this.queue.splice(0, this.opts.maxBatch);
      this.running++;
      void this.commit(batch).finally(() => {
        this.running--;
        if (this.queue.length) this.schedule();
      });
    }
  }

  private async commit(batch: Op[]): Promise<void> {
    if (batch.length === 1) return this.alone(batch[0]!);
    const outcomes: ({ ok: true; value: unknown } | { ok: false; err: unknown })[] = [];
    const events: WrittenEvent[] = [];
    let committing = false;
    let failed: Op | undefined;
    try {
      await this.transact(async (trx) => {
        this.opts.attachOutbox(trx, events);
        const sql = await statementsOf(trx);
        for (const op of batch) {
          if (!this.opts.savepoints) {
            failed = op;
            outcomes.push({ ok: true, value: await op.body(trx) });
            failed = undefined;
            continue;
          }
          const mark = events.length;
          await sql.run('SAVEPOINT edge_op');
          try {
            const value = await op.body(trx);
            await sql.run('RELEASE SAVEPOINT edge_op');
            outcomes.push({ ok: true, value });
          } catch (err) {
            // If the database already ended the transaction (a deadlock), this throws and the batch fails.
            await sql.run('ROLLBACK TO SAVEPOINT edge_op');
            await sql.run('RELEASE SAVEPOINT edge_op');
            events.length = mark;
            outcomes.push({ ok: false, err });
          }
        }
        if (events.length) await this.opts.flushOutbox?.(trx, events);
        committing = true;
      });
    } catch (err) {
      if (failed) {
        const rest = batch.filter((op) => op !== failed);
        this.queue.unshift(...rest);
        void this.alone(failed);
        return;
      }
      const retry = this.opts.retry;
      if (committing && retry && !retry.retryable(err, true)) {
        // The connection died during COMMIT: the batch may have committed. Running it again could
        // do twice what was done once, so every caller hears the database is unavailable.
        for (const op of batch) op.reject(err);
        return;
      }
      await Promise.all(batch.map((op) => this.alone(op)));
      return;
    }
    if (events.length) this.opts.committed(events);
    batch.forEach((op, i) => {
      const o = outcomes[i]!;
      if (o.ok) op.resolve(o.value);
      else op.reject(o.err);
    });
  }

  /** One operation in its own transaction, run again while the database says it may be. */
  private async alone(op: Op): Promise<void> {
    const retry = this.opts.retry;
    for (let attempt = 1; ; attempt++) {
      const events: WrittenEvent[] = [];
      let committing = false;
      let value: unknown;
      try {
        value = await this.transact(async (trx) => {
          this.opts.attachOutbox(trx, events);
          const out = await op.body(trx);
          if (events.length) await this.opts.flushOutbox?.(trx, events);
          committing = true;
          return out;
        });
      } catch (err) {
        if (retry && attempt < retry.attempts && retry.retryable(err, committing)) {
          await new Promise((r) => setTimeout(r, retry.delayMs(attempt)));
          continue;
        }
        op.reject(err);
        return;
      }
      if (events.length) this.opts.committed(events);
      op.resolve(value);
      return;
    }
  }
}
