import type { Knex } from 'knex';
import { DEFAULT_RETRY } from './attempt-outcome.js';
import type { StoreError } from './errors.js';
import { lastEventSeq, onCommitted, readEvents, type CommittedEvents } from './job-events.js';
import { migrationSource } from './migrations/index.js';
import type {
  Assignment,
  AttemptRecord,
  EventFilter,
  HeartbeatResult,
  JobEventRecord,
  JobFilter,
  JobRecord,
  JobReport,
  JobSpecRecord,
  LogRead,
  MetricsSnapshot,
  QueueStatsRecord,
  Retention,
  WorkerRecord,
  WorkerRow,
  WorkerStateName,
} from '../domain/records.js';
import type { BufferedHeartbeat, StoreHeartbeat, StoreHeartbeatOutcome, CancelOutcome, ClaimPolicy, ClaimResult, HeartbeatReport, MaintenanceInput, RegisterInput, ReleasedJobs, Store, StoreOptions, WorkerUpdateInput } from './store.js';
import { dialectOf, retryableFailure, type DialectName, type StoreDb } from './dialect.js';
import * as claims from './claims.js';
import * as jobs from './jobs.js';
import * as logs from './logs.js';
import * as queueStats from './queue-stats.js';
import * as workers from './workers.js';
import * as workerOps from './worker-operations.js';
import * as credentials from './credentials.js';
import * as jobSecrets from './job-secrets.js';
import type { NewToken, TokenKindName, TokenRecord, WebSessionRecord } from './credentials.js';
import { TokenCache } from './token-cache.js';

/**
 * The Store over Knex, on SQLite or MySQL/MariaDB: the one object the core holds. Each operation
 * lives in the repository of its entity (jobs, claims, workers, queue stats, logs, credentials, the
 * change log); the dialect differences sit in dialect.ts.
 */
export class KnexStore implements Store {
  private readonly db: StoreDb;
  private readonly tokens = new TokenCache(() => credentials.revocationMark(this.cluster?.marks ?? this.knex));

  constructor(
    readonly knex: Knex,
    readonly dialect: DialectName,
    opts: StoreOptions = {},
    /** `marks`: a pool of its own for the revocation mark (see openStore). */
    private readonly cluster?: { galera: boolean; stop?: () => void; marks?: Knex },
  ) {
    this.db = { knex, dialect: dialectOf(dialect, cluster), clock: opts.clock ?? Date.now, retry: opts.retry ?? DEFAULT_RETRY };
  }

  onCommitted(fn: CommittedEvents): () => void {
    return onCommitted(this.knex, fn);
  }

  async migrate(): Promise<void> {
    // Replicas starting together race for knex's migration lock; on Galera the loser may also get a
    // certification conflict. Either way the other replica is migrating: wait and look again.
    for (let attempt = 1; ; attempt++) {
      try {
        await this.knex.migrate.latest({ migrationSource });
        return;
      } catch (err) {
        const locked = /already locked/i.test((err as Error).message ?? '');
        if (attempt >= 20 || !(locked || (this.dialect === 'mysql' && retryableFailure(err, false)))) throw err;
        await new Promise((r) => setTimeout(r, 250 + Math.random() * 250));
      }
    }
  }

  async close(): Promise<void> {
    this.cluster?.stop?.();
    await this.cluster?.marks?.destroy();
    await this.knex.destroy();
  }

  submitJob(spec: JobSpecRecord, now: number): Promise<JobRecord> {
    return jobs.submitJob(this.db, spec, now);
  }


  submitJobs(specs: JobSpecRecord[], now: number): Promise<JobRecord[]> {
    return jobs.submitJobs(this.db, specs, now);
  }


  submitAndAssign(spec: JobSpecRecord, now: number, candidates: string[]): Promise<{ job: JobRecord; assignment?: Assignment }> {
    return claims.submitAndAssign(this.db, spec, now, candidates);
  }


  queuedQueues(): Promise<string[]> {
    return jobs.queuedQueues(this.db);
  }


  releaseDueJobs(queues: string[], now: number): Promise<ReleasedJobs> {
    return jobs.releaseDueJobs(this.db, queues, now);
  }


  getJob(id: string): Promise<JobRecord | undefined> {
    return jobs.getJob(this.db, id);
  }


  listJobs(filter: JobFilter): Promise<JobRecord[]> {
    return jobs.listJobs(this.db, filter);
  }


  listAttempts(jobId: string): Promise<AttemptRecord[]> {
    return jobs.listAttempts(this.db, jobId);
  }


  cancelJob(id: string, now: number): Promise<CancelOutcome> {
    return jobs.cancelJob(this.db, id, now);
  }


  registerWorker(input: RegisterInput, now: number): Promise<WorkerRecord & { endedJobs: JobRecord[] }> {
    return workers.registerWorker(this.db, input, now);
  }


  heartbeat(name: string, state: WorkerStateName, now: number, report: HeartbeatReport = {}): Promise<HeartbeatResult | undefined> {
    return workers.heartbeat(this.db, name, state, now, report);
  }

  recordHeartbeats(beats: BufferedHeartbeat[]): Promise<void> {
    return workerOps.recordHeartbeats(this.db.knex, beats);
  }

  heartbeats(beats: StoreHeartbeat[]): Promise<StoreHeartbeatOutcome[]> {
    return workers.heartbeats(this.db, beats);
  }


  getWorker(name: string): Promise<WorkerRecord | undefined> {
    return workers.getWorker(this.db, name);
  }

  workerRows(names: string[]): Promise<Map<string, WorkerRow>> {
    return workers.workerRows(this.db, names);
  }


  listWorkers(limit: number, afterName?: string, states?: WorkerStateName[], team?: string): Promise<WorkerRecord[]> {
    return workers.listWorkers(this.db, limit, afterName, states, team);
  }


  setWorkerMaintenance(input: MaintenanceInput, now: number): Promise<WorkerRecord> {
    return workers.setWorkerMaintenance(this.db, input, now);
  }


  updateWorker(input: WorkerUpdateInput, now: number): Promise<WorkerRecord> {
    return workers.updateWorker(this.db, input, now);
  }


  requestWorkerShutdown(name: string, now: number): Promise<WorkerRecord> {
    return workers.requestWorkerShutdown(this.db, name, now);
  }


  removeWorker(name: string): Promise<WorkerRecord> {
    return workers.removeWorker(this.db, name);
  }


  metricsSnapshot(): Promise<MetricsSnapshot> {
    return workerOps.metricsSnapshot(this.knex);
  }

  claimJobs(workerName: string, notBefore: number, maxJobs: number, policy: ClaimPolicy = {}): Promise<ClaimResult> {
    return claims.claimJobs(this.db, workerName, notBefore, maxJobs, policy);
  }



  heldSecretEnv(jobId: string, attempt: number, workerName: string): Promise<string | undefined> {
    return jobSecrets.heldSecretEnv(this.db, jobId, attempt, workerName);
  }

  reportJob(report: JobReport, notBefore: number): Promise<JobRecord> {
    return jobs.reportJob(this.db, report, notBefore);
  }

  reportJobs(reports: JobReport[], notBefore: number): Promise<(JobRecord | StoreError)[]> {
    return jobs.reportJobs(this.db, reports, notBefore);
  }

  reapLostWorkers(now: number, timeoutMs: number): Promise<{ workers: string[]; jobs: JobRecord[] }> {
    return workers.reapLostWorkers(this.db, now, timeoutMs);
  }


  releaseJobsOfOfflineWorker(name: string, now: number): Promise<JobRecord[]> {
    return workers.releaseJobsOfOfflineWorker(this.db, name, now);
  }



  requeueUnacknowledged(now: number, timeoutMs: number): Promise<JobRecord[]> {
    return jobs.requeueUnacknowledged(this.db, now, timeoutMs);
  }


  expireQueued(now: number, timeoutMs: number): Promise<JobRecord[]> {
    return jobs.expireQueued(this.db, now, timeoutMs);
  }


  purgeFinished(now: number, retention: Retention, batch: number): Promise<number> {
    return jobs.purgeFinished(this.db, now, retention, batch);
  }


  recordWorkerChange(name: string, now: number): Promise<void> {
    return workers.recordWorkerChange(this.db, name, now);
  }


  readEvents(afterSeq: number, limit: number, filter?: EventFilter): Promise<JobEventRecord[]> {
    return readEvents(this.knex, afterSeq, limit, filter);
  }

  lastEventSeq(): Promise<number> {
    return lastEventSeq(this.knex);
  }

  liveWorkers(): Promise<WorkerRecord[]> {
    return workers.liveWorkers(this.db);
  }


  queueStats(): Promise<QueueStatsRecord[]> {
    return queueStats.queueStats(this.db);
  }


  appendLog(jobId: string, attempt: number, offset: number, data: Uint8Array, writer?: string): Promise<number> {
    return logs.appendLog(this.db, jobId, attempt, offset, data, writer);
  }


  readLog(jobId: string, attempt: number, offset: number, maxBytes: number): Promise<LogRead> {
    return logs.readLog(this.db, jobId, attempt, offset, maxBytes);
  }


  sharedSetting(name: string, make: () => string): Promise<string> {
    return credentials.sharedSetting(this.knex, name, make);
  }

  async createToken(token: NewToken, now: number): Promise<TokenRecord> {
    // A worker's new token revokes its earlier ones; the revocation mark tells every replica's cache.
    const created = await credentials.createToken(this.knex, token, now, token.kind === 'worker');
    this.tokens.remember({ ...created, hash: token.hash });
    return created;
  }

  findToken(hash: string): Promise<(TokenRecord & { hash: string }) | undefined> {
    return this.tokens.find(hash, (h) => credentials.findToken(this.knex, h));
  }

  countTokens(kind: TokenKindName): Promise<number> {
    return credentials.countTokens(this.knex, kind);
  }

  listTokens(opts: { limit: number; beforeId?: string; team?: string; includeRevoked: boolean }): Promise<TokenRecord[]> {
    return credentials.listTokens(this.knex, opts);
  }

  async revokeWorkerTokens(workerName: string, now: number): Promise<number> {
    const n = await credentials.revokeWorkerTokens(this.knex, workerName, now);
    this.tokens.clear();
    return n;
  }

  async revokeToken(id: string, now: number, team?: string): Promise<TokenRecord> {
    const revoked = await credentials.revokeToken(this.knex, id, now, team);
    this.tokens.clear();
    return revoked;
  }

  createWebSession(session: { hash: string; tokenHash: string; expiresAt: number }, now: number): Promise<void> {
    return credentials.createWebSession(this.knex, session, now);
  }

  findWebSession(hash: string): Promise<WebSessionRecord | undefined> {
    return credentials.findWebSession(this.knex, hash);
  }

  revokeWebSession(hash: string, now: number): Promise<boolean> {
    return credentials.revokeWebSession(this.knex, hash, now);
  }
}
