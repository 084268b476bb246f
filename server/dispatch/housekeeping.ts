import type { Retention } from '../domain/records.js';
import type { Store } from '../store/store.js';

export interface HousekeepingOptions {
  store: Store;
  log: (msg: string, err?: unknown) => void;
  now?: () => number;
  /** A worker silent this long is lost: its jobs go back to their queues (or fail). */
  workerTimeoutMs: number;
  /** A job pushed to a worker and not started this long goes back to its queue. */
  assignTimeoutMs: number;
  /** A job queued this long fails ("queued too long"); 0: never. */
  queuedTimeoutMs: number;
  retention: Retention;
  periodMs?: number;
  purgeEveryMs?: number;
}

const PURGE_BATCH = 500;

/**
 * The periodic sweeps that keep promises when nobody reports: lost workers, unacknowledged
 * assignments, queued timeouts, retention. Every step is a conditional update, so all replicas may
 * run it at once.
 */
export class Housekeeping {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastPurge = 0;
  /** Since when this replica has reached the database without errors. */
  private healthySince: number | undefined;
  private readonly now: () => number;

  constructor(private readonly opts: HousekeepingOptions) {
    this.now = opts.now ?? Date.now;
  }

  start(): void {
    this.timer = setInterval(() => {
      this.running ??= this.tick().finally(() => (this.running = undefined));
    }, this.opts.periodMs ?? 1000);
    this.timer.unref();
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One round of every sweep. Exported for tests through `start`'s timer; safe to call directly. */
  async tick(): Promise<void> {
    const { store, log } = this.opts;
    try {
      this.healthySince ??= this.now();
      // Heartbeats cannot land while the database is down: a worker is lost only after it had a whole
      // worker timeout of reachable database to send one in.
      if (this.now() - this.healthySince >= this.opts.workerTimeoutMs) {
        const lost = await store.reapLostWorkers(this.now(), this.opts.workerTimeoutMs);
        for (const w of lost.workers) log(`worker ${w} missed its heartbeats: presumed lost`);
        for (const j of lost.jobs) log(`job ${j.id}: worker lost; ${j.state === 'QUEUED' ? 'queued again' : `now ${j.state}`}`);
      }
      const unacked = await store.requeueUnacknowledged(this.now(), this.opts.assignTimeoutMs);
      for (const j of unacked) log(`job ${j.id}: ${j.reason}`);
      if (this.opts.queuedTimeoutMs > 0) {
        const expired = await store.expireQueued(this.now(), this.opts.queuedTimeoutMs);
        for (const j of expired) log(`job ${j.id}: ${j.reason}`);
      }
      if (this.now() - this.lastPurge >= (this.opts.purgeEveryMs ?? 60_000)) {
        this.lastPurge = this.now();
        let total = 0;
        for (let n = PURGE_BATCH; n >= PURGE_BATCH; total += n) n = await store.purgeFinished(this.now(), this.opts.retention, PURGE_BATCH);
        if (total) log(`purged ${total} finished jobs past their retention`);
      }
    } catch (err) {
      this.healthySince = undefined;
      log('housekeeping failed; will retry', err);
    }
  }
}
