/** Plain records the store reads and writes. They know nothing of protobuf or Connect. */

export const JOB_STATES = ['QUEUED', 'ASSIGNED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED'] as const;
export type JobStateName = (typeof JOB_STATES)[number];
export const TERMINAL_JOB_STATES: readonly JobStateName[] = ['SUCCEEDED', 'FAILED', 'CANCELED'];
/** States in which a job takes slots on its worker. */
export const HELD_JOB_STATES: readonly JobStateName[] = ['ASSIGNED', 'RUNNING'];

export const WORKER_STATES = [
  'STARTING',
  'IDLE',
  'RUNNING',
  'TERMINATING',
  'OFFLINE',
  'UNKNOWN',
  'MAINTENANCE_REQUEST',
  'MAINTENANCE_PENDING',
  'MAINTENANCE_MODE',
  'MAINTENANCE_EXIT',
  'SHUTDOWN_REQUEST',
] as const;
export type WorkerStateName = (typeof WORKER_STATES)[number];
/** Worker states in which the server hands out new jobs. */
export const ACCEPTING_WORKER_STATES: readonly WorkerStateName[] = ['STARTING', 'IDLE', 'RUNNING'];

export interface JobSpecRecord {
  queue: string;
  argv: string[];
  env: Record<string, string>;
  cwd: string;
  slots: number;
  priority: number;
  timeoutSeconds: number;
  maxAttempts: number;
  labels: Record<string, string>;
  /** The team the job belongs to ('' for none); only that team's workers run it. */
  team?: string;
  /** Names of the job's secret environment variables, sorted (their values are never in a record). */
  secretEnvNames?: string[];
  /** On submit only: the values, sealed (core/secret-box.ts); stored as they are, read back only for the worker holding the job. */
  sealedSecretEnv?: string;
}

export interface JobRecord extends JobSpecRecord {
  id: string;
  state: JobStateName;
  workerName: string | null;
  attempt: number;
  exitCode: number | null;
  signal: string | null;
  reason: string;
  cancelRequested: boolean;
  /** A retried job waits in its queue until this time (epoch ms; 0: at once). */
  notBefore: number;
  /** When the job last entered its queue. */
  queuedAt: number;
  createdAt: number;
  startedAt: number | null;
  endedAt: number | null;
  updatedAt: number;
}

export interface AttemptRecord {
  jobId: string;
  attempt: number;
  workerName: string;
  assignedAt: number;
  startedAt: number | null;
  endedAt: number | null;
  state: JobStateName;
  exitCode: number | null;
  signal: string | null;
  reason: string;
  logSize: number;
}

export interface WorkerRecord {
  name: string;
  state: WorkerStateName;
  queues: string[];
  concurrency: number;
  version: string;
  firstOnlineAt: number;
  lastHeartbeatAt: number;
  /** Jobs the worker holds (ASSIGNED or RUNNING) and the slots they take. */
  jobIds: string[];
  usedSlots: number;
  /** When its current process registered; null for rows older than that column. */
  startedAt: number | null;
  /** An operator wants it in maintenance (survives restarts). */
  maintenance: boolean;
  maintenanceComment: MaintenanceCommentRecord | null;
  /** An operator asked it to shut down; cleared when it registers again. */
  shutdownRequested: boolean;
  systemInfo: SystemInfoRecord | null;
  /** The team the worker belongs to ('' for none); it runs only its team's jobs. */
  team: string;
}

/** A worker as its row holds it, without the jobs it holds. */
export type WorkerRow = Omit<WorkerRecord, 'jobIds' | 'usedSlots'>;

export interface MaintenanceCommentRecord {
  text: string;
  author: string;
  at: number;
}

/** How a worker's machine stands; stored as JSON, shaped like the wire message. */
export interface SystemInfoRecord {
  cpuPercent: number;
  cpuCount: number;
  memoryTotalMib: number;
  memoryAvailableMib: number;
  diskFreeMib: number;
  diskTotalMib: number;
  loadAverage: number[];
  os: string;
  arch: string;
  nodeVersion: string;
  hostname: string;
}

/** Counts the server exports as metrics, read in one go at scrape time. */
export interface MetricsSnapshot {
  jobs: { state: JobStateName; queue: string; count: number }[];
  /** QUEUED jobs per queue and the submission time of the oldest. */
  queues: { queue: string; depth: number; oldestCreatedAt: number }[];
  workers: { state: WorkerStateName; count: number }[];
}

export interface Assignment {
  job: JobRecord;
  attempt: number;
}

export interface JobFilter {
  queue?: string;
  states?: JobStateName[];
  workerName?: string;
  /** Only jobs of this team ('' for jobs of no team); undefined for every team. */
  team?: string;
  /** Return jobs with ids below this one (newest first paging). */
  beforeId?: string;
  limit: number;
}

export interface JobReport {
  jobId: string;
  attempt: number;
  workerName: string;
  state: JobStateName;
  exitCode: number | null;
  signal: string | null;
  reason: string;
  /**
   * On an end whose RUNNING was never reported (the process ended first): how long it ran. The
   * store then records the start that long before the end (not before the assignment) and the end.
   */
  ranForMs?: number | null;
  /** Who may report: when given, only on a job of the worker's team that the worker holds or once held. */
  caller?: ReportCaller;
}

export interface ReportCaller {
  /** The team the caller sees; undefined for a principal of no team, who sees every team. */
  seesTeam?: string;
  /** The reporting worker's team when the credential says it (a worker token); read from the store otherwise. */
  workerTeam?: string;
}

export interface HeldAttempt {
  jobId: string;
  attempt: number;
}

export interface HeartbeatResult {
  worker: WorkerRecord;
  /** Attempts the worker says it holds that it no longer holds: it must stop them. */
  revoked: HeldAttempt[];
  /** The attempts the store says the worker holds. */
  holding: HeldAttempt[];
}

export interface Retention {
  succeededMs: number;
  /** Failed and canceled jobs. */
  failedMs: number;
}

export interface LogRead {
  attempt: number;
  data: Buffer;
  size: number;
  /** The attempt has ended: no more bytes will come. */
  ended: boolean;
  /** The job has ended: no attempt will follow. */
  jobEnded: boolean;
}

/** The reason of a 'worker' event that says the worker was presumed lost (nothing to push to it). */
export const WORKER_LOST = 'worker lost';

export interface JobEventRecord {
  seq: number;
  jobId: string;
  queue: string;
  /**
   * 'state': the job entered `state`; 'cancel': its worker must stop the attempt; 'worker': an
   * operator changed worker `workerName` (its settings must reach it; job fields are empty).
   */
  kind: 'state' | 'cancel' | 'worker';
  state: JobStateName;
  attempt: number;
  workerName: string | null;
  exitCode: number | null;
  signal: string | null;
  reason: string;
  at: number;
}

/**
 * An event as a store operation wrote it, before the change log numbers it. Never stored:
 * `releasedBy` names the worker a job left, so that worker is woken for the slots it freed; `dueAt`
 * says when a job queued again to wait out a retry's backoff may be released for claims; `claimed`
 * marks an assignment made by a claim, which counted its worker's slots after every release written
 * before it in the same transaction.
 */
export type WrittenEvent = Omit<JobEventRecord, 'seq'> & { releasedBy?: string | null; dueAt?: number; claimed?: true };

export interface EventFilter {
  queue?: string;
  jobIds?: string[];
}

export interface QueueStatsRecord {
  queue: string;
  counts: Record<JobStateName, number>;
  oldestQueuedAt: number | null;
  workers: number;
  freeSlots: number;
  maxWorkerSlots: number;
  unplaceable: { jobId: string; slots: number }[];
  unplaceableCount: number;
}

/** Worker states in which a worker counts as alive (it may take or finish jobs). */
export const LIVE_WORKER_STATES: readonly WorkerStateName[] = WORKER_STATES.filter((s) => s !== 'OFFLINE' && s !== 'UNKNOWN');
