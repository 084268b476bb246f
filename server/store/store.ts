import type {
  Assignment,
  AttemptRecord,
  JobFilter,
  JobRecord,
  JobReport,
  JobSpecRecord,
  LogRead,
  WorkerRecord,
  WorkerStateName,
} from './records.js';

export interface RegisterInput {
  name: string;
  queues: string[];
  concurrency: number;
  version: string;
}

export type CancelOutcome =
  /** The job was QUEUED and is now CANCELED. */
  | { kind: 'canceled'; job: JobRecord }
  /** The job is on a worker; that worker must stop it, then report CANCELED. */
  | { kind: 'requested'; job: JobRecord }
  /** The job had already ended; nothing changed. */
  | { kind: 'ended'; job: JobRecord };

/** The one interface through which the server reaches the database. All SQL lives behind it. */
export interface Store {
  readonly dialect: 'sqlite' | 'mysql';
  migrate(): Promise<void>;
  close(): Promise<void>;

  submitJob(spec: JobSpecRecord, now: number): Promise<JobRecord>;
  getJob(id: string): Promise<JobRecord | undefined>;
  listJobs(filter: JobFilter): Promise<JobRecord[]>;
  cancelJob(id: string, now: number): Promise<CancelOutcome>;
  listAttempts(jobId: string): Promise<AttemptRecord[]>;

  registerWorker(input: RegisterInput, now: number): Promise<WorkerRecord>;
  heartbeat(name: string, state: WorkerStateName, now: number): Promise<WorkerRecord | undefined>;
  getWorker(name: string): Promise<WorkerRecord | undefined>;
  listWorkers(limit: number, afterName?: string): Promise<WorkerRecord[]>;

  /**
   * Claims QUEUED jobs of the worker's queues that fit its free slots, in priority order, atomically:
   * each job goes to exactly one worker. Returns what was assigned (possibly nothing).
   */
  claimJobs(workerName: string, now: number, maxJobs: number): Promise<Assignment[]>;
  /**
   * The submit fast path: stores the job and, when no older job waits in its queue and one of the
   * `candidates` (connected workers, in order of preference) serves the queue and has the slots,
   * assigns it to that worker in the same transaction (one commit). Otherwise the job is QUEUED.
   */
  submitAndAssign(spec: JobSpecRecord, now: number, candidates: string[]): Promise<{ job: JobRecord; assignment?: Assignment }>;
  /** The queues that hold at least one QUEUED job (one index read; lets a sweep skip idle queues). */
  queuedQueues(): Promise<string[]>;
  /** Applies a worker's report about an attempt it holds; refuses stale or foreign reports. */
  reportJob(report: JobReport, now: number): Promise<JobRecord>;

  /** Appends bytes at an offset of an attempt's log; idempotent by offset. Returns the stored size. */
  appendLog(jobId: string, attempt: number, offset: number, data: Uint8Array): Promise<number>;
  /** Reads an attempt's log (0 = the job's current attempt) from an offset. */
  readLog(jobId: string, attempt: number, offset: number, maxBytes: number): Promise<LogRead>;
}
