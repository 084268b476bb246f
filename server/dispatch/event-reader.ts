import type { EventFilter, JobEventRecord } from '../domain/records.js';
import type { Store } from '../store/store.js';

/** How long a missing sequence number may hold back later changes before it is taken for a rollback. */
const GAP_WAIT_MS = 2000;

/**
 * Reads the change log in order from a cursor, for one watcher. Sequence numbers are handed out when
 * a transaction writes, not when it commits: a change may become visible after a later one. So a
 * missing number holds the reader back until it shows up, or until GAP_WAIT_MS says it never will
 * (its transaction rolled back). That way a watcher sees every change once, in order. On a Galera
 * cluster, where AUTO_INCREMENT would leave a permanent gap after nearly every change, the numbers come
 * from a counter row without gaps, in commit order (job-events.ts), so this wait does not come into play.
 */
export class EventReader {
  private gapSince: number | undefined;
  private readonly jobIds: Set<string> | undefined;

  constructor(
    private readonly store: Store,
    private after: number,
    private readonly filter: EventFilter = {},
    private readonly now: () => number = Date.now,
  ) {
    this.jobIds = filter.jobIds?.length ? new Set(filter.jobIds) : undefined;
  }

  get cursor(): number {
    return this.after;
  }

  /** The next changes that match the filter; moves the cursor past what it has read (matching or not). */
  async next(limit = 500): Promise<JobEventRecord[]> {
    const rows = await this.store.readEvents(this.after, limit);
    const out: JobEventRecord[] = [];
    for (const e of rows) {
      if (e.seq !== this.after + 1) {
        this.gapSince ??= this.now();
        if (this.now() - this.gapSince < GAP_WAIT_MS) break;
      }
      this.gapSince = undefined;
      this.after = e.seq;
      if (e.kind === 'state' && (!this.filter.queue || e.queue === this.filter.queue) && (!this.jobIds || this.jobIds.has(e.jobId))) {
        out.push(e);
      }
    }
    return out;
  }
}
