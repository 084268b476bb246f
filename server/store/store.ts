import type { RetryPolicy } from './attempt-outcome.js';
import type { NewToken, TokenKindName, TokenRecord, WebSessionRecord } from './credentials.js';
import type { StoreError } from './errors.js';
import type {
  Assignment,
  HeartbeatResult,
  HeldAttempt,
  Retention,
  EventFilter,
  JobEventRecord,
  QueueStatsRecord,
  AttemptRecord,
  JobFilter,
  JobRecord,
  JobReport,
  JobSpecRecord,
  LogRead,
  MetricsSnapshot,
  SystemInfoRecord,
  WorkerRecord,
  WorkerRow,
  WorkerStateName,
  WrittenEvent,
} from '../domain/records.js';

export interface RegisterInput {
  name: string;
  queues: string[];
  concurrency: number;
  version: string;
  systemInfo?: SystemInfoRecord;
  /** The worker's team ('' for none), from the credential it registered with. */
  team?: string;
  /**
   * Refuse (StoreError 'exists') when a worker of this name is live (neither OFFLINE nor UNKNOWN)
   * and sent a heartbeat at or after this time: its name is held.
   */
  refuseIfLiveSince?: number;
}

export interface MaintenanceInput {
  name: string;
  change: 'enter' | 'exit' | 'comment';
  comment: string;
  author: string;
}

export interface WorkerUpdateInput {
  name: string;
  addQueues: string[];
  removeQueues: string[];
  concurrency?: number;
}

export interface HeartbeatReport {
  /** The attempts the worker says it holds. */
  held?: HeldAttempt[];
  systemInfo?: SystemInfoRecord;
}

/** A heartbeat the store answers in a batch with others (Store.heartbeats). */
export interface StoreHeartbeat extends HeartbeatReport {
  name: string;
  /** Anything but OFFLINE (a goodbye goes through Store.heartbeat). */
  reported: WorkerStateName;
  at: number;
}

/** What the store answered to one heartbeat of a batch: as Store.heartbeat, or why it did not take it. */
export type StoreHeartbeatOutcome = HeartbeatResult | 'unknown' | 'offline';

/** A heartbeat kept in memory and written later with others (Store.recordHeartbeats). */
export interface BufferedHeartbeat {
  name: string;
  /** The state the worker reported, squared with the jobs it holds (reportedGivenHoldings). */
  reported: WorkerStateName;
  at: number;
  systemInfo?: SystemInfoRecord;
}

export interface StoreOptions {
  /** Server time, for stamps taken inside transactions. */
  clock?: () => number;
  /** Backoff between attempts of failed jobs. */
  retry?: RetryPolicy;
}

export interface ClaimPolicy {
  /**
   * Head reservation: once the first job in claim order has waited this long and fits the worker's
   * concurrency but not its free slots, the worker takes nothing ranked behind it. Default: never.
   */
  reserveAfterMs?: number;
}

/** What a claim assigned, and the worker's slots still free after it (0 when it takes no work). */
export interface ClaimResult {
  assigned: Assignment[];
  freeSlots: number;
}

export type CancelOutcome =
  /** The job was QUEUED and is now CANCELED. */
  | { kind: 'canceled'; job: JobRecord }
  /** The job is on a worker; that worker must stop it, then report CANCELED. */
  | { kind: 'requested'; job: JobRecord }
  /** The job had already ended; nothing changed. */
  | { kind: 'ended'; job: JobRecord };

/** The one interface through which the server reaches the database. All SQL lives behind it. */
/** What a release did (Store.releaseDueJobs). */
export interface ReleasedJobs {
  /** The queues where jobs were released, with how many. */
  released: { queue: string; jobs: number }[];
  /** When the next retry still waiting in the queues looked at falls due; undefined when none waits. */
  nextDueAt?: number;
}

export interface Store {
  /**
   * Calls `fn` with the events of every commit of this store's operations, after the commit: the one
   * path by which what the store did becomes wake-ups and notifications. Returns the unsubscribe.
   */
  onCommitted(fn: (events: WrittenEvent[]) => void): () => void;
  readonly dialect: 'sqlite' | 'mysql';
  migrate(): Promise<void>;
  close(): Promise<void>;

  submitJob(spec: JobSpecRecord, now: number): Promise<JobRecord>;
  /** Stores several jobs in one transaction: all or none. */
  submitJobs(specs: JobSpecRecord[], now: number): Promise<JobRecord[]>;
  getJob(id: string): Promise<JobRecord | undefined>;
  listJobs(filter: JobFilter): Promise<JobRecord[]>;
  cancelJob(id: string, now: number): Promise<CancelOutcome>;
  listAttempts(jobId: string): Promise<AttemptRecord[]>;

  /**
   * Registers a worker (StoreError 'exists' when its name belongs to another team, or a live worker
   * holds it); the attempts the name held end FAILED "worker re-registered" and come back in endedJobs.
   */
  registerWorker(input: RegisterInput, now: number): Promise<WorkerRecord & { endedJobs: JobRecord[] }>;
  /**
   * Stores a heartbeat; the stored state also follows what operators want (see worker-states).
   * Says which of the attempts the worker reports holding it no longer holds. A worker that
   * reported OFFLINE must register again: its later heartbeats are refused (conflict).
   */
  heartbeat(name: string, state: WorkerStateName, now: number, report?: HeartbeatReport): Promise<HeartbeatResult | undefined>;
  /**
   * Writes heartbeats answered from memory, many in one transaction (one UPDATE per reported state
   * and few hundred workers). Each stored state follows the row's wishes as `heartbeat` does; a
   * worker that said goodbye or was removed is left as it is.
   */
  recordHeartbeats(beats: BufferedHeartbeat[]): Promise<void>;
  /**
   * Stores many heartbeats, of distinct workers, and answers each as `heartbeat` does ('unknown': not
   * registered; 'offline': said goodbye and must register again), in a few statements for the whole
   * batch instead of several per heartbeat.
   */
  heartbeats(beats: StoreHeartbeat[]): Promise<StoreHeartbeatOutcome[]>;
  /**
   * Ends the attempts a worker still holds when it reports OFFLINE: a worker that said goodbye runs
   * nothing, so they end as if it were lost (FAILED and retried while tries remain, or CANCELED).
   */
  releaseJobsOfOfflineWorker(name: string, now: number): Promise<JobRecord[]>;
  getWorker(name: string): Promise<WorkerRecord | undefined>;
  /** Many workers' rows (not what they hold) in one statement per few hundred; the unknown are absent. */
  workerRows(names: string[]): Promise<Map<string, WorkerRow>>;
  listWorkers(limit: number, afterName?: string, states?: WorkerStateName[], team?: string): Promise<WorkerRecord[]>;
  /** Operators' changes to a worker; each returns the worker after it. */
  setWorkerMaintenance(input: MaintenanceInput, now: number): Promise<WorkerRecord>;
  updateWorker(input: WorkerUpdateInput, now: number): Promise<WorkerRecord>;
  requestWorkerShutdown(name: string, now: number): Promise<WorkerRecord>;
  /** Forgets an OFFLINE or UNKNOWN worker; returns it as it was. */
  removeWorker(name: string): Promise<WorkerRecord>;
  /** Job, queue and worker counts for /metrics. */
  metricsSnapshot(): Promise<MetricsSnapshot>;

  /**
   * Claims QUEUED jobs of the worker's queues that fit its free slots, in priority order, atomically:
   * each job goes to exactly one worker. Returns what was assigned (possibly nothing) and the slots left.
   */
  claimJobs(workerName: string, now: number, maxJobs: number, policy?: ClaimPolicy): Promise<ClaimResult>;
  /**
   * The submit fast path: stores the job and, when no job waits in its queue and one of the
   * `candidates` (connected workers, in order of preference) serves the queue and has the slots,
   * assigns it to that worker in the same transaction (one commit). Otherwise the job is QUEUED.
   */
  submitAndAssign(spec: JobSpecRecord, now: number, candidates: string[]): Promise<{ job: JobRecord; assignment?: Assignment }>;
  /** The queues that hold at least one QUEUED job (one index read; lets a sweep skip idle queues). */
  queuedQueues(): Promise<string[]>;
  /**
   * Releases the retries of these queues whose backoff has passed, so that claims take them: claims
   * read only released jobs, and a queue's waiting retries cost them nothing. Says how many in which
   * queues, and when the next retry still waiting in them falls due.
   */
  releaseDueJobs(queues: string[], now: number): Promise<ReleasedJobs>;
  /**
   * The sealed secret values of a job, only while `workerName` holds attempt `attempt` of it
   * (ASSIGNED or RUNNING); undefined otherwise, or when the job has none.
   */
  heldSecretEnv(jobId: string, attempt: number, workerName: string): Promise<string | undefined>;
  /** Applies a worker's report about an attempt it holds; refuses stale or foreign reports. */
  reportJob(report: JobReport, now: number): Promise<JobRecord>;
  /**
   * Applies reports on different jobs (one each) in one operation: each gets its job as it now
   * stands or the StoreError that refused it, in order; a refused report changes nothing.
   */
  reportJobs(reports: JobReport[], now: number): Promise<(JobRecord | StoreError)[]>;

  /**
   * Marks workers silent for longer than `timeoutMs` UNKNOWN and ends the attempts they held with
   * "worker lost" (retried while attempts remain). Safe to run on every replica at once.
   */
  reapLostWorkers(now: number, timeoutMs: number): Promise<{ workers: string[]; jobs: JobRecord[] }>;
  /** Puts back in their queues jobs ASSIGNED for longer than `timeoutMs` and never started. */
  requeueUnacknowledged(now: number, timeoutMs: number): Promise<JobRecord[]>;
  /** Fails jobs QUEUED for longer than `timeoutMs` ("queued too long"). */
  expireQueued(now: number, timeoutMs: number): Promise<JobRecord[]>;
  /** Deletes up to `batch` finished jobs per rule past their retention, with their attempts, logs and events. */
  purgeFinished(now: number, retention: Retention, batch: number): Promise<number>;

  /** Notes in the change log that an operator changed a worker, for the replica holding its stream. */
  recordWorkerChange(name: string, now: number): Promise<void>;
  /** Job changes after a sequence number, oldest first. */
  readEvents(afterSeq: number, limit: number, filter?: EventFilter): Promise<JobEventRecord[]>;
  /** The sequence number of the newest change (0 when there is none). */
  lastEventSeq(): Promise<number>;
  /** Workers that are neither OFFLINE nor UNKNOWN, by name. */
  liveWorkers(): Promise<WorkerRecord[]>;
  /** Every queue that has jobs or live workers, by name. */
  queueStats(): Promise<QueueStatsRecord[]>;

  /** Appends bytes at an offset of an attempt's log; idempotent by offset. Returns the stored size. */
  /** With a writer (a worker's name), refuses (StoreError 'stale') unless that worker holds this attempt now. */
  appendLog(jobId: string, attempt: number, offset: number, data: Uint8Array, writer?: string): Promise<number>;
  /** Reads an attempt's log (0 = the job's current attempt) from an offset. */
  readLog(jobId: string, attempt: number, offset: number, maxBytes: number): Promise<LogRead>;

  /** A value every replica of this database shares, made by the first that asks (e.g. a hashing key). */
  sharedSetting(name: string, make: () => string): Promise<string>;
  /** Stores a token by its keyed hash; a new worker token revokes the worker's earlier ones. */
  createToken(token: NewToken, now: number): Promise<TokenRecord>;
  /** The token with this hash (revoked ones too), with its hash. */
  findToken(hash: string): Promise<(TokenRecord & { hash: string }) | undefined>;
  /** How many valid tokens of a kind exist. */
  countTokens(kind: TokenKindName): Promise<number>;
  listTokens(opts: { limit: number; beforeId?: string; team?: string; includeRevoked: boolean }): Promise<TokenRecord[]>;
  /** Revokes the tokens of a worker that was removed. */
  revokeWorkerTokens(workerName: string, now: number): Promise<number>;
  /** Revokes a token (of the team, when one is given); revoking twice is no error. */
  revokeToken(id: string, now: number, team?: string): Promise<TokenRecord>;
  /** Web page sessions, by the keyed hash of their id (the id itself is never stored). */
  createWebSession(session: { hash: string; tokenHash: string; expiresAt: number }, now: number): Promise<void>;
  findWebSession(hash: string): Promise<WebSessionRecord | undefined>;
  revokeWebSession(hash: string, now: number): Promise<boolean>;
}
