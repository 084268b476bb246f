import type { Knex } from 'knex';
import { v7 as uuidv7 } from 'uuid';
import { StoreError, notFound } from './errors.js';
import { CANCELED_BEFORE_START, DEFAULT_RETRY, endAttempt, unassign, type RetryPolicy } from './attempt-outcome.js';
import { judgeReport } from '../domain/job-transitions.js';
import { wentOfflineMessage } from '../domain/worker-states.js';
import { insertEvents, lastEventSeq, onCommitted, readEvents, stateEvent, transaction, workerEvent, type CommittedEvents } from './job-events.js';
import { migrationSource } from './migrations/index.js';
import {
  HELD_JOB_STATES,
  JOB_STATES,
  LIVE_WORKER_STATES,
  TERMINAL_JOB_STATES,
  type Assignment,
  type EventFilter,
  type HeartbeatResult,
  type HeldAttempt,
  type JobEventRecord,
  type Retention,
  type JobStateName,
  type QueueStatsRecord,
  type AttemptRecord,
  type JobFilter,
  type JobRecord,
  type JobReport,
  type JobSpecRecord,
  type LogRead,
  type MetricsSnapshot,
  type SystemInfoRecord,
  type WorkerRecord,
  type WorkerStateName,
} from '../domain/records.js';
import { acceptsWork, claimFilter, claimOrder, claimReadAhead, fitsNow, freeSlots, pickClaims, queueCapacities } from '../domain/fit.js';
import { jobSpecToRow, rowToAttempt, rowToCapacity, rowToJob, rowToWorker } from './rows.js';
import type { CancelOutcome, ClaimPolicy, HeartbeatReport, MaintenanceInput, RegisterInput, Store, StoreOptions, WorkerUpdateInput } from './store.js';
import * as workerOps from './worker-operations.js';
import * as credentials from './credentials.js';
import type { NewToken, TokenKindName, TokenRecord, WebSessionRecord } from './credentials.js';

type Db = Knex | Knex.Transaction;
type ClaimFilter = ReturnType<typeof claimFilter>;

export class KnexStore implements Store {
  private readonly clock: () => number;
  private readonly retry: RetryPolicy;

  constructor(
    readonly knex: Knex,
    readonly dialect: 'sqlite' | 'mysql',
    opts: StoreOptions = {},
  ) {
    this.clock = opts.clock ?? Date.now;
    this.retry = opts.retry ?? DEFAULT_RETRY;
  }

  onCommitted(fn: CommittedEvents): () => void {
    return onCommitted(this.knex, fn);
  }

  async migrate(): Promise<void> {
    await this.knex.migrate.latest({ migrationSource });
  }

  async close(): Promise<void> {
    await this.knex.destroy();
  }

  /** Row locks exist on MySQL only; SQLite serializes writers, which gives the same guarantee. */
  private locked<T extends Knex.QueryBuilder>(q: T): T {
    return (this.dialect === 'mysql' ? q.forUpdate() : q) as T;
  }

  async submitJob(spec: JobSpecRecord, now: number): Promise<JobRecord> {
    return (await this.submitJobs([spec], now))[0]!;
  }

  async submitJobs(specs: JobSpecRecord[], now: number): Promise<JobRecord[]> {
    const jobs = specs.map((spec) => newJob(spec, now));
    await transaction(this.knex, async (trx) => {
      // Chunks keep each statement well under the drivers' placeholder limits.
      for (let i = 0; i < jobs.length; i += 200) {
        const chunk = jobs.slice(i, i + 200);
        await trx('jobs').insert(chunk.map(jobRow));
        await insertEvents(trx, chunk.map((job) => stateEvent(job, now)));
      }
    });
    return jobs;
  }

  async submitAndAssign(spec: JobSpecRecord, now: number, candidates: string[]): Promise<{ job: JobRecord; assignment?: Assignment }> {
    const job = newJob(spec, now);
    return transaction(this.knex, async (trx) => {
      // A job that waits in the queue already comes first: then the claim (slow path) keeps the order.
      const waiting = await trx('jobs').select('id').where({ state: 'QUEUED', queue: spec.queue }).first();
      if (!waiting) {
        for (const workerName of candidates) {
          // The same lock a claim takes, so the worker's slots are counted once.
          const worker = await this.locked(trx('workers').where({ name: workerName })).first();
          if (!worker) continue;
          const { usedSlots } = await heldBy(trx, workerName);
          if (!fitsNow(spec, rowToCapacity(worker, usedSlots))) continue;
          const at = Math.max(now, this.clock());
          const assigned: JobRecord = { ...job, state: 'ASSIGNED', workerName, attempt: 1, updatedAt: at };
          await trx('jobs').insert(jobRow(assigned));
          await trx('job_attempts').insert({ job_id: job.id, attempt: 1, worker_name: workerName, state: 'ASSIGNED', assigned_at: at, reason: '', log_size: 0 });
          // Watchers see the job queued, then assigned, as on the slow path.
          await insertEvents(trx, [stateEvent(job, now), stateEvent(assigned, at)]);
          return { job: assigned, assignment: { attempt: 1, job: assigned } };
        }
      }
      await trx('jobs').insert(jobRow(job));
      await insertEvents(trx, [stateEvent(job, now)]);
      return { job };
    });
  }

  async queuedQueues(): Promise<string[]> {
    // A prefix of jobs_claim_idx (state, queue, …): MySQL reads it as a loose index scan.
    const rows = await this.knex('jobs').distinct('queue').where('state', 'QUEUED');
    return rows.map((r) => String(r.queue));
  }

  async getJob(id: string): Promise<JobRecord | undefined> {
    const row = await this.knex('jobs').where({ id }).first();
    return row ? rowToJob(row) : undefined;
  }

  async listJobs(filter: JobFilter): Promise<JobRecord[]> {
    const q = this.knex('jobs').select('*').orderBy('id', 'desc').limit(filter.limit);
    if (filter.queue) q.where('queue', filter.queue);
    if (filter.states?.length) q.whereIn('state', filter.states);
    if (filter.workerName) q.where('worker_name', filter.workerName);
    if (filter.team !== undefined) q.where('team', filter.team);
    if (filter.beforeId) q.where('id', '<', filter.beforeId);
    return (await q).map(rowToJob);
  }

  async listAttempts(jobId: string): Promise<AttemptRecord[]> {
    const rows = await this.knex('job_attempts').where({ job_id: jobId }).orderBy('attempt');
    return rows.map(rowToAttempt);
  }

  async cancelJob(id: string, now: number): Promise<CancelOutcome> {
    return transaction(this.knex, async (trx) => {
      const row = await this.locked(trx('jobs').where({ id })).first();
      if (!row) throw notFound(`job ${id}`);
      const job = rowToJob(row);
      if (TERMINAL_JOB_STATES.includes(job.state)) return { kind: 'ended', job };
      if (job.state === 'QUEUED') {
        const reason = 'canceled by user';
        await trx('jobs')
          .where({ id, state: 'QUEUED' })
          .update({ state: 'CANCELED', reason, cancel_requested: true, ended_at: now, updated_at: now });
        const canceled: JobRecord = { ...job, state: 'CANCELED', reason, cancelRequested: true, endedAt: now, updatedAt: now };
        await insertEvents(trx, [stateEvent(canceled, now)]);
        return { kind: 'canceled', job: canceled };
      }
      await trx('jobs').where({ id }).update({ cancel_requested: true, updated_at: now });
      // The worker holding the job may be connected to another replica: the event reaches it there.
      await insertEvents(trx, [{ ...stateEvent(job, now), kind: 'cancel', reason: 'canceled by user' }]);
      return { kind: 'requested', job: { ...job, cancelRequested: true, updatedAt: now } };
    });
  }

  async registerWorker(input: RegisterInput, now: number): Promise<WorkerRecord & { endedJobs: JobRecord[] }> {
    const endedJobs = await workerOps.registerWorker(this.knex, this.dialect === 'mysql', input, now, this.retry);
    return { ...(await this.getWorker(input.name))!, endedJobs };
  }

  async heartbeat(name: string, state: WorkerStateName, now: number, report: HeartbeatReport = {}): Promise<HeartbeatResult | undefined> {
    const stored = await workerOps.heartbeat(this.knex, name, state, report.systemInfo, now);
    if (stored === 'offline') throw new StoreError('conflict', wentOfflineMessage(name));
    if (!stored) return undefined;
    const worker = (await this.getWorker(name))!;
    const held = report.held ?? [];
    const holds = new Set(worker.jobIds);
    const revoked: HeldAttempt[] = [];
    const maybeStale = held.filter((h) => !holds.has(h.jobId));
    if (maybeStale.length) revoked.push(...maybeStale);
    // Same job, other attempt: the worker runs an attempt that was taken away and given again.
    const same = held.filter((h) => holds.has(h.jobId));
    if (same.length) {
      const rows = await this.knex('jobs').select('id', 'attempt').whereIn('id', same.map((h) => h.jobId));
      const current = new Map(rows.map((r) => [String(r.id), Number(r.attempt)]));
      for (const h of same) if (current.get(h.jobId) !== h.attempt) revoked.push(h);
    }
    return { worker, revoked };
  }

  async getWorker(name: string): Promise<WorkerRecord | undefined> {
    const row = await this.knex('workers').where({ name }).first();
    return row ? rowToWorker(row, await heldBy(this.knex, name)) : undefined;
  }

  async listWorkers(limit: number, afterName?: string, states?: WorkerStateName[], team?: string): Promise<WorkerRecord[]> {
    const q = this.knex('workers').select('*').orderBy('name').limit(limit);
    if (team !== undefined) q.where('team', team);
    if (afterName) q.where('name', '>', afterName);
    if (states?.length) q.whereIn('state', states);
    const rows = await q;
    const held = await heldByMany(this.knex, rows.map((r) => String(r.name)));
    return rows.map((r) => rowToWorker(r, held.get(String(r.name)) ?? { jobIds: [], usedSlots: 0 }));
  }

  async setWorkerMaintenance(input: MaintenanceInput, now: number): Promise<WorkerRecord> {
    await workerOps.setMaintenance(this.knex, this.dialect === 'mysql', input, now);
    return (await this.getWorker(input.name))!;
  }

  async updateWorker(input: WorkerUpdateInput, now: number): Promise<WorkerRecord> {
    await workerOps.updateWorker(this.knex, this.dialect === 'mysql', input, now);
    return (await this.getWorker(input.name))!;
  }

  async requestWorkerShutdown(name: string, now: number): Promise<WorkerRecord> {
    await workerOps.requestShutdown(this.knex, this.dialect === 'mysql', name, now);
    return (await this.getWorker(name))!;
  }

  async removeWorker(name: string): Promise<WorkerRecord> {
    const before = await this.getWorker(name);
    if (!before) throw notFound(`worker ${name}`);
    await workerOps.removeWorker(this.knex, this.dialect === 'mysql', name);
    return before;
  }

  metricsSnapshot(): Promise<MetricsSnapshot> {
    return workerOps.metricsSnapshot(this.knex);
  }

  async claimJobs(workerName: string, notBefore: number, maxJobs: number, policy: ClaimPolicy = {}): Promise<Assignment[]> {
    const reserveAfterMs = policy.reserveAfterMs ?? Infinity;
    return transaction(this.knex, async (trx) => {
      // Locking the worker row serializes claims for one worker, even across server replicas.
      const worker = await this.locked(trx('workers').where({ name: workerName })).first();
      if (!worker || !acceptsWork(worker.state)) return [];
      const { usedSlots } = await heldBy(trx, workerName);
      const capacity = rowToCapacity(worker, usedSlots);
      // Stamped after reading the slots held: any release this claim counted on was committed, and
      // stamped, before. So the recorded intervals of a worker's attempts never overlap falsely.
      const now = Math.max(notBefore, this.clock());
      const free = freeSlots(capacity);
      if (free <= 0) return [];
      // One index-ordered read per queue (see jobs_claim_idx), merged here in claim order; the rule
      // (domain/fit.ts) says what to read and what to take.
      const filter = claimFilter(capacity, Math.max(notBefore, this.clock()));
      const perQueue = claimReadAhead(free, maxJobs);
      const rows = (await Promise.all(capacity.queues.map((queue) => this.queuedHead(trx, queue, filter, perQueue)))).flat();
      const picked = pickClaims(rows.map(rowToJob).sort(claimOrder), { free, maxJobs, now, reserveAfterMs });
      if (!picked.length) return [];
      const ids = picked.map((j) => j.id);
      const updated = await trx('jobs')
        .whereIn('id', ids)
        .where('state', 'QUEUED')
        .update({ state: 'ASSIGNED', worker_name: workerName, attempt: trx.raw('attempt + 1'), reason: '', updated_at: now });
      if (updated !== ids.length) throw new StoreError('conflict', `claim raced: ${updated} of ${ids.length} jobs assigned`);
      await trx('job_attempts').insert(
        picked.map((j) => ({
          job_id: j.id,
          attempt: j.attempt + 1,
          worker_name: workerName,
          state: 'ASSIGNED',
          assigned_at: now,
          reason: '',
          log_size: 0,
        })),
      );
      const assigned = picked.map((j): JobRecord => ({ ...j, state: 'ASSIGNED', workerName, attempt: j.attempt + 1, reason: '', updatedAt: now }));
      await insertEvents(trx, assigned.map((j) => stateEvent(j, now)));
      return assigned.map((job) => ({ job, attempt: job.attempt }));
    });
  }

  /** The first QUEUED jobs of a queue that a worker of this concurrency could hold, locked (skipping rows others hold). */
  private queuedHead(trx: Knex.Transaction, queue: string, filter: ClaimFilter, limit: number): Promise<Record<string, unknown>[]> {
    // Tiny tables tempt MySQL into a full scan and sort, which locks every row: insist on the index.
    const from = this.dialect === 'mysql' ? trx.from(trx.raw('jobs FORCE INDEX (jobs_claim_idx)')) : trx('jobs');
    const q = from
      .select('*')
      .where({ state: 'QUEUED', queue })
      .where('team', filter.team)
      .where('slots', '<=', filter.maxSlots)
      .where('not_before', '<=', filter.due)
      .orderBy([{ column: 'priority', order: 'desc' }, { column: 'id', order: 'asc' }])
      .limit(limit);
    return this.dialect === 'mysql' ? q.forUpdate().skipLocked() : q;
  }

  async reportJob(report: JobReport, notBefore: number): Promise<JobRecord> {
    return transaction(this.knex, async (trx) => {
      const row = await this.locked(trx('jobs').where({ id: report.jobId })).first();
      const now = Math.max(notBefore, this.clock());
      if (!row) throw notFound(`job ${report.jobId}`);
      const job = rowToJob(row);
      if (job.attempt !== report.attempt || job.workerName !== report.workerName) {
        throw new StoreError(
          'stale',
          `attempt ${report.attempt} of job ${job.id} is not held by worker ${report.workerName} ` +
            `(the job is at attempt ${job.attempt}${job.workerName ? ` on worker ${job.workerName}` : ''})`,
        );
      }
      const verdict = judgeReport({ from: job.state, state: report.state, cancelRequested: job.cancelRequested, exitCode: report.exitCode, signal: report.signal });
      // A re-sent report (after a reconnect) of a state already recorded changes nothing.
      if (verdict.kind === 'repeat') return job;
      if (verdict.kind === 'refused') throw new StoreError('conflict', `job ${job.id}: ${verdict.message}`);
      if (verdict.kind === 'cancel-wins') {
        return endAttempt(trx, job, { state: 'CANCELED', exitCode: null, signal: null, reason: CANCELED_BEFORE_START }, now, this.retry);
      }
      const where = { job_id: job.id, attempt: job.attempt };
      if (report.state === 'QUEUED') return unassign(trx, job, now, `handed back by worker ${job.workerName}`);
      if (report.state === 'RUNNING') {
        await trx('jobs').where({ id: job.id }).update({ state: 'RUNNING', started_at: now, updated_at: now });
        await trx('job_attempts').where(where).update({ state: 'RUNNING', started_at: now });
        const running: JobRecord = { ...job, state: 'RUNNING', startedAt: now, updatedAt: now };
        await insertEvents(trx, [stateEvent(running, now)]);
        return running;
      }
      const state = report.state as 'SUCCEEDED' | 'FAILED' | 'CANCELED';
      return endAttempt(trx, job, { state, exitCode: report.exitCode, signal: report.signal, reason: report.reason }, now, this.retry);
    });
  }

  async reapLostWorkers(now: number, timeoutMs: number): Promise<{ workers: string[]; jobs: JobRecord[] }> {
    const cutoff = now - timeoutMs;
    const lost = await this.knex('workers').select('name').whereIn('state', LIVE_WORKER_STATES).where('last_heartbeat_at', '<', cutoff);
    const workers: string[] = [];
    const jobs: JobRecord[] = [];
    for (const { name } of lost) {
      // Conditional on the stale heartbeat: a heartbeat that lands meanwhile keeps the worker alive.
      const n = await this.knex('workers')
        .where({ name })
        .whereIn('state', LIVE_WORKER_STATES)
        .where('last_heartbeat_at', '<', cutoff)
        .update({ state: 'UNKNOWN', updated_at: now });
      if (!n) continue;
      workers.push(String(name));
      jobs.push(...(await this.endHeldJobs(String(name), now, 'worker lost', 'canceled by user; its worker was lost')));
    }
    return { workers, jobs };
  }

  async releaseJobsOfOfflineWorker(name: string, now: number): Promise<JobRecord[]> {
    return this.endHeldJobs(name, now, 'worker went OFFLINE while holding it', 'canceled by user; its worker went OFFLINE');
  }

  /** Ends every attempt a worker holds (it is gone): FAILED (retried while tries remain), or CANCELED when asked. */
  private async endHeldJobs(name: string, now: number, reason: string, canceledReason: string): Promise<JobRecord[]> {
    const jobs: JobRecord[] = [];
    const held = await this.knex('jobs').select('id').where({ worker_name: name }).whereIn('state', HELD_JOB_STATES);
    for (const { id } of held) {
      const job = await transaction(this.knex, async (trx) => {
        const row = await this.locked(trx('jobs').where({ id })).first();
        if (!row) return undefined;
        const j = rowToJob(row);
        if (j.workerName !== name || !HELD_JOB_STATES.includes(j.state)) return undefined;
        const outcome = j.cancelRequested
          ? ({ state: 'CANCELED', exitCode: null, signal: null, reason: canceledReason } as const)
          : ({ state: 'FAILED', exitCode: null, signal: null, reason } as const);
        return endAttempt(trx, j, outcome, now, this.retry);
      });
      if (job) jobs.push(job);
    }
    return jobs;
  }

  async requeueUnacknowledged(now: number, timeoutMs: number): Promise<JobRecord[]> {
    const stale = await this.knex('jobs').select('id').where('state', 'ASSIGNED').where('updated_at', '<', now - timeoutMs).limit(500);
    const out: JobRecord[] = [];
    for (const { id } of stale) {
      const job = await transaction(this.knex, async (trx) => {
        const row = await this.locked(trx('jobs').where({ id, state: 'ASSIGNED' })).first();
        if (!row || Number(row.updated_at) >= now - timeoutMs) return undefined;
        const j = rowToJob(row);
        return unassign(trx, j, now, `worker ${j.workerName} did not start attempt ${j.attempt} in time; queued again`);
      });
      if (job) out.push(job);
    }
    return out;
  }

  async expireQueued(now: number, timeoutMs: number): Promise<JobRecord[]> {
    const stale = await this.knex('jobs').select('id').where('state', 'QUEUED').where('queued_at', '<', now - timeoutMs).limit(500);
    const out: JobRecord[] = [];
    for (const { id } of stale) {
      const job = await transaction(this.knex, async (trx) => {
        const row = await this.locked(trx('jobs').where({ id, state: 'QUEUED' })).first();
        if (!row) return undefined;
        const j = rowToJob(row);
        const reason = `queued too long (over ${Math.round(timeoutMs / 1000)} s without a worker)`;
        await trx('jobs').where({ id }).update({ state: 'FAILED', reason, ended_at: now, updated_at: now });
        const failed: JobRecord = { ...j, state: 'FAILED', reason, endedAt: now, updatedAt: now };
        await insertEvents(trx, [stateEvent(failed, now)]);
        return failed;
      });
      if (job) out.push(job);
    }
    return out;
  }

  async purgeFinished(now: number, retention: Retention, batch: number): Promise<number> {
    let purged = 0;
    const rules: [string[], number][] = [
      [['SUCCEEDED'], retention.succeededMs],
      [['FAILED', 'CANCELED'], retention.failedMs],
    ];
    for (const [states, keepMs] of rules) {
      const rows = await this.knex('jobs').select('id').whereIn('state', states).where('ended_at', '<', now - keepMs).limit(batch);
      const ids = rows.map((r) => String(r.id));
      if (!ids.length) continue;
      // Small batches, one table at a time: no statement holds many locks for long.
      await this.knex('log_chunks').whereIn('job_id', ids).delete();
      await this.knex('job_attempts').whereIn('job_id', ids).delete();
      await this.knex('job_events').whereIn('job_id', ids).delete();
      purged += await this.knex('jobs').whereIn('id', ids).whereIn('state', states).delete();
    }
    // Worker-change notes only matter for the moment it takes replicas to read them.
    await this.knex('job_events').where({ kind: 'worker' }).where('at', '<', now - 86_400_000).delete();
    return purged;
  }

  async recordWorkerChange(name: string, now: number): Promise<void> {
    await insertEvents(this.knex, [workerEvent(name, now)]);
  }

  readEvents(afterSeq: number, limit: number, filter?: EventFilter): Promise<JobEventRecord[]> {
    return readEvents(this.knex, afterSeq, limit, filter);
  }

  lastEventSeq(): Promise<number> {
    return lastEventSeq(this.knex);
  }

  async liveWorkers(): Promise<WorkerRecord[]> {
    const rows = await this.knex('workers').whereIn('state', LIVE_WORKER_STATES).orderBy('name');
    const held = await heldByMany(this.knex, rows.map((r) => String(r.name)));
    return rows.map((r) => rowToWorker(r, held.get(String(r.name)) ?? { jobIds: [], usedSlots: 0 }));
  }

  async queueStats(): Promise<QueueStatsRecord[]> {
    const counts = (await this.knex('jobs')
      .select('queue', 'state')
      .count({ n: '*' })
      .min({ oldest: 'created_at' })
      .groupBy('queue', 'state')) as Record<string, unknown>[];
    const live = await this.liveWorkers();
    const stats = new Map<string, QueueStatsRecord>();
    const entry = (queue: string): QueueStatsRecord => {
      let s = stats.get(queue);
      if (!s) {
        s = {
          queue,
          counts: Object.fromEntries(JOB_STATES.map((st) => [st, 0])) as Record<JobStateName, number>,
          oldestQueuedAt: null,
          workers: 0,
          freeSlots: 0,
          maxWorkerSlots: 0,
          unplaceable: [],
          unplaceableCount: 0,
        };
        stats.set(queue, s);
      }
      return s;
    };
    for (const r of counts) {
      const s = entry(String(r.queue));
      s.counts[r.state as JobStateName] = Number(r.n);
      if (r.state === 'QUEUED') s.oldestQueuedAt = Number(r.oldest);
    }
    for (const [q, capacity] of queueCapacities(live)) Object.assign(entry(q), capacity);
    for (const s of stats.values()) {
      if (!s.counts.QUEUED) continue;
      const base = () => this.knex('jobs').where({ state: 'QUEUED', queue: s.queue }).where('slots', '>', s.maxWorkerSlots);
      const [{ n }] = (await base().count({ n: '*' })) as [{ n: number | string }];
      s.unplaceableCount = Number(n);
      if (s.unplaceableCount) {
        const rows = await base().select('id', 'slots').orderBy('id').limit(100);
        s.unplaceable = rows.map((r) => ({ jobId: String(r.id), slots: Number(r.slots) }));
      }
    }
    return [...stats.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0));
  }

  async appendLog(jobId: string, attempt: number, offset: number, data: Uint8Array, writer?: string): Promise<number> {
    return transaction(this.knex, async (trx) => {
      if (writer !== undefined) {
        // The job's row first, as reports lock it: the holder cannot change until this chunk is stored.
        const job = await this.locked(trx('jobs').select('worker_name', 'attempt').where({ id: jobId })).first();
        if (!job || String(job.worker_name ?? '') !== writer || Number(job.attempt) !== attempt) {
          throw new StoreError('stale', `attempt ${attempt} of job ${jobId} is not held by worker ${writer}; its log takes no bytes from it`);
        }
      }
      const row = await this.locked(trx('job_attempts').where({ job_id: jobId, attempt })).first();
      if (!row) throw notFound(`attempt ${attempt} of job ${jobId}`);
      const size = Number(row.log_size);
      if (offset > size) {
        throw new StoreError('out-of-range', `chunk starts at byte ${offset} but the log of attempt ${attempt} of job ${jobId} holds ${size} bytes`);
      }
      const end = offset + data.length;
      // A re-sent chunk (after a reconnect) overlaps what is stored: it must say the same thing.
      if (offset < size && !(await sameBytes(trx, jobId, attempt, offset, data.subarray(0, Math.min(end, size) - offset)))) {
        throw new StoreError(
          'conflict',
          `chunk at byte ${offset} of attempt ${attempt} of job ${jobId} differs from the bytes already stored there; a log is written once`,
        );
      }
      if (end <= size) return size; // already stored: a re-sent chunk
      if (TERMINAL_JOB_STATES.includes(row.state)) {
        throw new StoreError('stale', `attempt ${attempt} of job ${jobId} has ended; its log takes no more bytes`);
      }
      const fresh = Buffer.from(data.buffer, data.byteOffset + (size - offset), end - size);
      await trx('log_chunks').insert({ job_id: jobId, attempt, start_offset: size, byte_count: fresh.length, data: fresh });
      await trx('job_attempts').where({ job_id: jobId, attempt }).update({ log_size: end });
      return end;
    });
  }

  async readLog(jobId: string, attempt: number, offset: number, maxBytes: number): Promise<LogRead> {
    const job = await this.knex('jobs').select('attempt', 'state').where({ id: jobId }).first();
    if (!job) throw notFound(`job ${jobId}`);
    const jobAttempt = Number(job.attempt);
    const n = attempt || jobAttempt;
    const jobEnded = TERMINAL_JOB_STATES.includes(job.state);
    if (n === 0) return { attempt: 0, data: Buffer.alloc(0), size: 0, ended: jobEnded, jobEnded };
    const row = await this.knex('job_attempts').where({ job_id: jobId, attempt: n }).first();
    if (!row) throw notFound(`attempt ${n} of job ${jobId}`);
    const size = Number(row.log_size);
    const ended = TERMINAL_JOB_STATES.includes(row.state) || n < jobAttempt;
    const until = Math.min(size, offset + maxBytes);
    if (offset >= until) return { attempt: n, data: Buffer.alloc(0), size, ended, jobEnded };
    const chunks = await this.knex('log_chunks')
      .select('start_offset', 'data')
      .where({ job_id: jobId, attempt: n })
      .where('start_offset', '<', until)
      .whereRaw('start_offset + byte_count > ?', [offset])
      .orderBy('start_offset');
    const parts = chunks.map((c) => {
      const start = Number(c.start_offset);
      const buf = c.data as Buffer;
      return buf.subarray(Math.max(0, offset - start), Math.min(buf.length, until - start));
    });
    return { attempt: n, data: Buffer.concat(parts), size, ended, jobEnded };
  }

  sharedSetting(name: string, make: () => string): Promise<string> {
    return credentials.sharedSetting(this.knex, name, make);
  }

  createToken(token: NewToken, now: number): Promise<TokenRecord> {
    return credentials.createToken(this.knex, token, now, token.kind === 'worker');
  }

  findToken(hash: string): Promise<(TokenRecord & { hash: string }) | undefined> {
    return credentials.findToken(this.knex, hash);
  }

  countTokens(kind: TokenKindName): Promise<number> {
    return credentials.countTokens(this.knex, kind);
  }

  listTokens(opts: { limit: number; beforeId?: string; team?: string; includeRevoked: boolean }): Promise<TokenRecord[]> {
    return credentials.listTokens(this.knex, opts);
  }

  revokeWorkerTokens(workerName: string, now: number): Promise<number> {
    return credentials.revokeWorkerTokens(this.knex, workerName, now);
  }

  revokeToken(id: string, now: number, team?: string): Promise<TokenRecord> {
    return credentials.revokeToken(this.knex, id, now, team);
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

function newJob(spec: JobSpecRecord, now: number): JobRecord {
  return {
    ...spec,
    team: spec.team ?? '',
    id: uuidv7(),
    state: 'QUEUED',
    workerName: null,
    attempt: 0,
    exitCode: null,
    signal: null,
    reason: '',
    cancelRequested: false,
    notBefore: 0,
    queuedAt: now,
    createdAt: now,
    startedAt: null,
    endedAt: null,
    updatedAt: now,
  };
}

function jobRow(job: JobRecord): Record<string, unknown> {
  return {
    id: job.id,
    ...jobSpecToRow(job),
    state: job.state,
    worker_name: job.workerName,
    attempt: job.attempt,
    reason: '',
    cancel_requested: false,
    not_before: job.notBefore,
    queued_at: job.queuedAt,
    created_at: job.createdAt,
    updated_at: job.updatedAt,
  };
}

/** Whether the stored log of an attempt holds exactly these bytes from this offset. */
async function sameBytes(db: Db, jobId: string, attempt: number, offset: number, bytes: Uint8Array): Promise<boolean> {
  if (!bytes.length) return true;
  const until = offset + bytes.length;
  const chunks = await db('log_chunks')
    .select('start_offset', 'data')
    .where({ job_id: jobId, attempt })
    .where('start_offset', '<', until)
    .whereRaw('start_offset + byte_count > ?', [offset])
    .orderBy('start_offset');
  const stored = Buffer.concat(
    chunks.map((c) => {
      const start = Number(c.start_offset);
      const buf = c.data as Buffer;
      return buf.subarray(Math.max(0, offset - start), Math.min(buf.length, until - start));
    }),
  );
  return stored.equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length));
}

async function heldBy(db: Db, workerName: string): Promise<{ jobIds: string[]; usedSlots: number }> {
  return (await heldByMany(db, [workerName])).get(workerName) ?? { jobIds: [], usedSlots: 0 };
}

async function heldByMany(db: Db, names: string[]): Promise<Map<string, { jobIds: string[]; usedSlots: number }>> {
  const held = new Map<string, { jobIds: string[]; usedSlots: number }>();
  if (!names.length) return held;
  const rows = await db('jobs').select('id', 'worker_name', 'slots').whereIn('worker_name', names).whereIn('state', HELD_JOB_STATES);
  for (const r of rows) {
    const name = String(r.worker_name);
    const h = held.get(name) ?? { jobIds: [], usedSlots: 0 };
    h.jobIds.push(String(r.id));
    h.usedSlots += Number(r.slots);
    held.set(name, h);
  }
  return held;

}
