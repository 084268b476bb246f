import type { ChangeLogReader, JobNotifier, WorkerViews, WorkerWaker } from './ports.js';
import { TERMINAL_JOB_STATES, WORKER_LOST, type JobEventRecord, type WorkerRecord, type WrittenEvent } from '../domain/records.js';
import { acceptsWork } from '../domain/fit.js';
import type { Store } from '../store/store.js';

export interface PublisherOptions {
  store: Store;
  dispatcher: WorkerWaker;
  /** This replica's reader of the change log. */
  feed: ChangeLogReader;
  /** Keyed by job id: wakes log tails and watchers of one job. */
  jobEvents: JobNotifier;
  /** Heartbeats answered from memory: every event about a worker makes its next one read the store. */
  workerViews?: WorkerViews;
}

/**
 * The one path from what happened to who must hear of it. Every store operation's events reach
 * `committed` after their commit (Store.onCommitted); the change log brings `fromLog` what any
 * replica did. Handlers and housekeeping never wake the dispatcher or notify anyone by hand.
 *
 * Committed events act at once on this replica: watchers of the job, the queue's workers for a job
 * queued, the worker a job left for the slots it freed; then, for a commit with other facts (a
 * cancel, an operator's change to a worker) or while a watcher waits, the change log is read at once
 * so they reach whichever replica holds the worker's stream, this one included, exactly once.
 */
export class Publisher {
  private readonly unsubscribe: Array<() => void>;

  constructor(private readonly opts: PublisherOptions) {
    this.unsubscribe = [opts.store.onCommitted((events) => this.committed(events)), opts.feed.subscribe((events) => this.fromLog(events))];
  }

  /** Events this replica's store operations just committed. */
  committed(events: WrittenEvent[]): void {
    const last = new Map<string, WrittenEvent>();
    const queued = new Map<string, number>();
    // Workers that freed slots, and whether they still need a claim for them.
    const workers = new Map<string, boolean>();
    for (const e of events) {
      this.forgetWorkersOf(e);
      if (e.kind === 'worker') continue;
      this.opts.jobEvents.notify(e.jobId);
      if (e.kind === 'state') last.set(e.jobId, e);
      const left = e.releasedBy ?? e.workerName;
      if (e.kind === 'state' && left && (e.state === 'QUEUED' || TERMINAL_JOB_STATES.includes(e.state))) workers.set(left, true);
      // A claim later in the same commit counted those slots (report-and-claim): waking the worker
      // again made a second claim that found it full, half of the claims on the control plane.
      else if (e.claimed && e.workerName && workers.has(e.workerName)) workers.set(e.workerName, false);
    }
    // A job submitted and assigned in one commit wakes nobody: only where it ended up counts. Nor
    // does a retry waiting out its backoff: no claim can take it before it is released.
    for (const e of last.values()) {
      if (e.state !== 'QUEUED') continue;
      if (e.dueAt !== undefined) this.opts.dispatcher.releaseAt(e.dueAt);
      else queued.set(e.queue, (queued.get(e.queue) ?? 0) + 1);
    }
    for (const [q, n] of queued) this.opts.dispatcher.wakeQueue(q, n);
    for (const [w, unclaimed] of workers) if (unclaimed) this.opts.dispatcher.wakeWorker(w);
    // What the log adds to a commit's own state changes (done above) are cancels and workers'
    // changes, for whichever replica holds the stream; and news for watchers. Reading the log after
    // every commit without them was a query and a thousand rows turned into events, for nothing.
    if (events.some((e) => e.kind !== 'state')) this.opts.feed.kick();
    else this.opts.feed.kickIfWatched();
  }

  /** Changes seen in the change log, made through any replica: reach the streams this replica holds. */
  fromLog(events: JobEventRecord[]): void {
    const queues = new Map<string, number>();
    const workers = new Set<string>();
    const last = new Map<string, JobEventRecord>();
    for (const e of events) {
      this.forgetWorkersOf(e);
      if (e.kind === 'cancel') {
        if (e.workerName) this.opts.dispatcher.cancel(e.workerName, e.jobId, e.attempt, e.reason);
      } else if (e.kind === 'worker') {
        // A worker presumed lost has nothing new to hear; only what is kept of it is forgotten.
        if (e.workerName && e.reason !== WORKER_LOST) this.opts.dispatcher.settingsChanged(e.workerName);
      } else {
        last.set(e.jobId, e);
        if (TERMINAL_JOB_STATES.includes(e.state) && e.workerName) workers.add(e.workerName);
      }
    }
    // As for commits: a job queued and assigned within what was read wakes nobody (a queue marked
    // for nothing makes every worker that connects or checks in claim in vain).
    for (const e of last.values()) if (e.state === 'QUEUED') queues.set(e.queue, (queues.get(e.queue) ?? 0) + 1);
    for (const [q, n] of queues) this.opts.dispatcher.wakeQueue(q, n);
    for (const w of workers) this.opts.dispatcher.wakeWorker(w);
  }

  private forgetWorkersOf(e: WrittenEvent | JobEventRecord): void {
    const views = this.opts.workerViews;
    if (!views) return;
    if (e.workerName) views.forget(e.workerName);
    if (e.jobId) views.forgetJob(e.jobId);
    if ('releasedBy' in e && e.releasedBy && e.releasedBy !== e.workerName) views.forget(e.releasedBy);
  }

  /** Bytes were added to a job's log: its tails read on. */
  logWritten(jobId: string): void {
    this.opts.jobEvents.notify(jobId);
  }

  /** A worker checked in: back from maintenance, or presumed lost and back, it takes jobs again at once. */
  heartbeatSeen(worker: WorkerRecord): void {
    if (acceptsWork(worker.state)) this.opts.dispatcher.wakeWorker(worker.name);
  }

  close(): void {
    for (const u of this.unsubscribe) u();
  }
}
