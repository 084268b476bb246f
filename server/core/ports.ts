import type { Assignment, JobEventRecord } from '../domain/records.js';
import type { WorkerSettingsRecord } from '../domain/worker-push.js';

/**
 * What the core needs of the layers above it, as interfaces: the dispatcher, the change-log reader
 * and the job notifier implement them, and the core never imports them.
 */

/** Wakes and pushes to the workers whose streams this replica holds. */
export interface WorkerWaker {
  wakeQueue(queue: string, jobs?: number): void;
  wakeWorker(workerName: string): void;
  cancel(workerName: string, jobId: string, attempt: number, reason: string): boolean;
  settingsChanged(workerName: string): void;
  /** Connected workers a just-submitted job of this queue could go to at once. */
  candidates(queue: string, max?: number): string[];
  /** Pushes a job assigned in the submit transaction. */
  deliverAssigned(a: Assignment): Promise<void>;
  /** A job queued again waits out a retry's backoff until `at`: release it for claims then. */
  releaseAt(at: number): void;
}

/** This replica's reader of the change log. */
export interface ChangeLogReader {
  subscribe(fn: (events: JobEventRecord[]) => void): () => void;
  /** Read the log now rather than at the next poll. */
  kick(): void;
  /** Read the log now if a watcher waits for news; else the next poll will. */
  kickIfWatched(): void;
}

/** Wakes whoever waits on one job (log tails, watchers). */
export interface JobNotifier {
  notify(jobId: string): void;
}

/** The worker streams this replica holds, for changes that concern one worker. */
export interface WorkerStreams {
  /** False when the worker's stream is not on this replica. */
  pushSettings(workerName: string, settings: WorkerSettingsRecord): boolean;
  /** Ends the worker's stream with this error; false when it is not on this replica. */
  endStream(workerName: string, err: Error): boolean;
}

/** What a replica keeps in memory about workers (their heartbeats): forgotten when the store changes them. */
export interface WorkerViews {
  forget(workerName: string): void;
  /** An event about a job that may name no worker any more (a job handed back names none). */
  forgetJob(jobId: string): void;
}
