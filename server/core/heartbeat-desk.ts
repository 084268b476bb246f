import type { HeartbeatResult, HeldAttempt, SystemInfoRecord, WorkerRecord, WorkerStateName } from '../domain/records.js';
import { reportedGivenHoldings, resolveReportedState } from '../domain/worker-states.js';
import { StoreError } from '../store/errors.js';
import { wentOfflineMessage } from '../domain/worker-states.js';
import type { BufferedHeartbeat, Store, StoreHeartbeat, StoreHeartbeatOutcome } from '../store/store.js';

/** How often heartbeats answered from memory are written; far below any worker timeout. */
export const DEFAULT_HEARTBEAT_FLUSH_MS = 1000;
const MAX_FORGOTTEN = 100_000;
/** Heartbeats the store answers in one batch at most. */
const MAX_BATCH = 2000;

export interface HeartbeatDeskOptions {
  store: Store;
  /** Whether this replica holds the worker's FetchJobs stream (and so makes every claim for it). */
  connected(workerName: string): boolean;
  log: (msg: string, err?: unknown) => void;
  flushMs?: number;
}

export interface Heartbeat {
  name: string;
  reported: WorkerStateName;
  /** The attempts the worker says it holds. */
  held: HeldAttempt[];
  systemInfo?: SystemInfoRecord;
  now: number;
}

export type HeartbeatAnswer = HeartbeatResult & {
  /** Answered from memory (nothing changed but the time); false when the store answered. */
  fromMemory: boolean;
};

/** What this replica knows of a worker since the store last answered its heartbeat. */
interface View {
  worker: WorkerRecord;
  /** Job id → attempt, as the store said the worker holds them. */
  holding: Map<string, number>;
}

/**
 * Answers the heartbeats that change nothing but a worker's last-seen time from memory, and writes
 * them in batches: with 10,000 workers that was 1,000 UPDATEs and several thousand SELECTs a second.
 *
 * A heartbeat goes to the store at once, as before, whenever memory cannot answer it exactly: the
 * first of a worker, one that changes its stored state (a stop, maintenance acted on, back from lost),
 * one that reports a job memory does not know it holds (the store decides what is revoked), OFFLINE,
 * and any worker whose stream is not on this replica. Memory forgets a worker at every event about it
 * (a job it held changed, an operator's change, presumed lost, registered again): its next heartbeat
 * reads the store again. Liveness is what was written: the flush runs every flushMs, far below the
 * worker timeout, so a live worker never looks dead; a crash loses at most one flush of timestamps.
 */
export class HeartbeatDesk {
  private readonly views = new Map<string, View>();
  /** Job id → the worker whose view holds it: an event about a job names no worker once it left one. */
  private readonly holders = new Map<string, string>();
  /** When each worker was last forgotten (a count of forgets), so that an answer read before it is not kept. */
  private readonly forgotten = new Map<string, number>();
  private forgets = 0;
  /** Forgets before this one are no longer in `forgotten`. */
  private clearedAt = 0;
  private pending = new Map<string, BufferedHeartbeat>();
  private flushing: Promise<void> | undefined;
  /** The heartbeats the running flush writes, by worker. */
  private writing: Map<string, BufferedHeartbeat> | undefined;
  private readonly timer: NodeJS.Timeout;
  /** Heartbeats waiting for the store, answered together once the batch before them is done. */
  private waiting: { beat: StoreHeartbeat; resolve(o: StoreHeartbeatOutcome): void; reject(err: unknown): void }[] = [];
  private asking = false;

  constructor(private readonly opts: HeartbeatDeskOptions) {
    this.timer = setInterval(() => void this.flushNow(), opts.flushMs ?? DEFAULT_HEARTBEAT_FLUSH_MS);
    this.timer.unref();
  }

  /** Stores (or keeps, to write soon) one heartbeat; undefined when the worker is not registered. */
  async beat(b: Heartbeat): Promise<HeartbeatAnswer | undefined> {
    const known = this.fromMemory(b);
    if (known) return known;
    // The store is written at once: an older heartbeat of this worker must not land after this one.
    this.pending.delete(b.name);
    this.dropView(b.name);
    if (this.writing?.has(b.name)) {
      // Only a flush that holds this worker's older heartbeat is waited for (waiting for every flush
      // held each store-answered heartbeat behind a thousand-row write).
      await this.flushing;
      // A failed flush puts back what it held: that older heartbeat must not land after this one either.
      this.pending.delete(b.name);
    }
    const asOf = this.forgets;
    const result = b.reported === 'OFFLINE' ? await this.opts.store.heartbeat(b.name, b.reported, b.now, { held: b.held, systemInfo: b.systemInfo }) : await this.ask(b);
    if (result && result.worker.state !== 'OFFLINE' && this.opts.connected(b.name) && (this.forgotten.get(b.name) ?? 0) <= asOf && asOf >= this.clearedAt) {
      const holding = new Map(result.holding.map((h) => [h.jobId, h.attempt]));
      this.views.set(b.name, { worker: result.worker, holding });
      for (const id of holding.keys()) this.holders.set(id, b.name);
    }
    return result && { ...result, fromMemory: false };
  }

  /**
   * The store's answer to one heartbeat, asked with every other heartbeat that waits for the store:
   * one batch at a time, each taking all that arrived while the one before ran (a fleet that connects
   * at once is answered in a few statements per hundreds of workers, not several per worker).
   */
  private async ask(b: Heartbeat) {
    const outcome = await new Promise<StoreHeartbeatOutcome>((resolve, reject) => {
      this.waiting.push({ beat: { name: b.name, reported: b.reported, at: b.now, held: b.held, systemInfo: b.systemInfo }, resolve, reject });
      if (!this.asking) void this.askStore();
    });
    if (outcome === 'offline') throw new StoreError('conflict', wentOfflineMessage(b.name));
    return outcome === 'unknown' ? undefined : outcome;
  }

  private async askStore(): Promise<void> {
    this.asking = true;
    while (this.waiting.length) {
      // One heartbeat per worker in a batch: a second one of the same worker waits for the next.
      const names = new Set<string>();
      const batch: typeof this.waiting = [];
      const later: typeof this.waiting = [];
      for (const w of this.waiting) (batch.length < MAX_BATCH && !names.has(w.beat.name) ? (names.add(w.beat.name), batch) : later).push(w);
      this.waiting = later;
      try {
        const outcomes = await this.opts.store.heartbeats(batch.map((w) => w.beat));
        batch.forEach((w, i) => w.resolve(outcomes[i]!));
      } catch (err) {
        for (const w of batch) w.reject(err);
      }
    }
    this.asking = false;
  }

  /** Something about this worker changed: its next heartbeat reads the store. */
  forget(workerName: string): void {
    this.dropView(workerName);
    if (this.forgotten.size >= MAX_FORGOTTEN) {
      // Forgetting everyone keeps every later answer right (each reads the store once more).
      this.forgotten.clear();
      this.views.clear();
      this.holders.clear();
      this.clearedAt = this.forgets + 1;
    }
    this.forgotten.set(workerName, ++this.forgets);
  }

  /** Something about this job changed (requeued, ended, canceled): the worker memory says holds it reads the store again. */
  forgetJob(jobId: string): void {
    const holder = this.holders.get(jobId);
    if (holder) this.forget(holder);
  }

  private dropView(workerName: string): void {
    const v = this.views.get(workerName);
    if (!v) return;
    this.views.delete(workerName);
    for (const id of v.holding.keys()) if (this.holders.get(id) === workerName) this.holders.delete(id);
  }

  /** The worker as this replica will write it: the store's record with a heartbeat not yet written. */
  latest(worker: WorkerRecord): WorkerRecord {
    const p = this.pending.get(worker.name);
    if (!p || p.at <= worker.lastHeartbeatAt) return worker;
    return { ...worker, lastHeartbeatAt: p.at, systemInfo: p.systemInfo ?? worker.systemInfo };
  }

  /** Writes what is kept and stops; a graceful restart loses no heartbeat. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flushing;
    await this.flushNow();
  }

  private fromMemory(b: Heartbeat): HeartbeatAnswer | undefined {
    const v = this.views.get(b.name);
    if (!v || b.reported === 'OFFLINE' || !this.opts.connected(b.name)) return undefined;
    for (const h of b.held) if (v.holding.get(h.jobId) !== h.attempt) return undefined;
    const reported = reportedGivenHoldings(b.reported, v.holding.size > 0);
    if (resolveReportedState(reported, v.worker) !== v.worker.state) return undefined;
    v.worker = { ...v.worker, lastHeartbeatAt: b.now, systemInfo: b.systemInfo ?? v.worker.systemInfo };
    this.pending.set(b.name, { name: b.name, reported, at: b.now, systemInfo: b.systemInfo });
    return { worker: v.worker, revoked: [], holding: [], fromMemory: true };
  }

  private flushNow(): Promise<void> {
    this.flushing ??= this.flush().finally(() => (this.flushing = undefined));
    return this.flushing;
  }

  private async flush(): Promise<void> {
    // Workers whose stream left this replica are answered by the store again.
    for (const name of [...this.views.keys()]) if (!this.opts.connected(name)) this.dropView(name);
    if (!this.pending.size) return;
    this.writing = this.pending;
    this.pending = new Map();
    const beats = [...this.writing.values()];
    try {
      await this.opts.store.recordHeartbeats(beats);
    } catch (err) {
      // Kept for the next flush, unless a newer one came meanwhile.
      for (const b of beats) if (!this.pending.has(b.name)) this.pending.set(b.name, b);
      this.opts.log(`writing ${beats.length} heartbeats failed; will retry`, err);
    } finally {
      this.writing = undefined;
    }
  }
}
