import type { JobEventRecord } from '../domain/records.js';
import type { Store } from '../store/store.js';

export interface EventFeedOptions {
  store: Store;
  /** How often to look for changes made through other replicas. */
  pollMs: number;
  log: (msg: string, err?: unknown) => void;
}

/**
 * This replica's one reader of the job change log: it polls the log (one query per period, however
 * many workers and watchers this replica serves) and tells its listeners what changed. Changes made
 * here `kick` it to read at once.
 */
export class EventFeed {
  private cursor = 0;
  private readonly listeners = new Set<(events: JobEventRecord[]) => void>();
  private waiters = new Set<() => void>();
  private kickNow: (() => void) | undefined;
  private kicked = false;
  private stopped = false;
  private loop: Promise<void> | undefined;

  constructor(private readonly opts: EventFeedOptions) {}

  async start(): Promise<void> {
    this.cursor = await this.opts.store.lastEventSeq();
    this.loop = this.run();
  }

  subscribe(fn: (events: JobEventRecord[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Something changed through this replica: read the log now rather than at the next period. */
  kick(): void {
    this.kicked = true;
    const k = this.kickNow;
    this.kickNow = undefined;
    k?.();
  }

  /** A change through this replica that only watchers need at once: read now if one waits. */
  kickIfWatched(): void {
    if (this.waiters.size) this.kick();
  }

  /** Resolves at the next batch of changes, after `timeoutMs`, or on abort. */
  waitForNews(timeoutMs: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal.addEventListener('abort', done, { once: true });
      this.waiters.add(done);
    });
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.kick();
    await this.loop;
    for (const w of [...this.waiters]) w();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      this.kicked = false;
      let full = false;
      try {
        const events = await this.opts.store.readEvents(this.cursor, 1000);
        if (events.length) {
          this.cursor = events[events.length - 1]!.seq;
          full = events.length === 1000;
          for (const fn of this.listeners) fn(events);
          const waiters = this.waiters;
          this.waiters = new Set();
          for (const w of waiters) w();
        }
      } catch (err) {
        this.opts.log('reading the job change log failed', err);
      }
      if (full || this.kicked || this.stopped) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.opts.pollMs);
        this.kickNow = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
