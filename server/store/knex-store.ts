import type { Knex } from 'knex';
import { v7 as uuidv7 } from 'uuid';
import { StoreError, notFound } from './errors.js';
import { migrationSource } from './migrations/index.js';
import {
  ACCEPTING_WORKER_STATES,
  HELD_JOB_STATES,
  TERMINAL_JOB_STATES,
  type Assignment,
  type AttemptRecord,
  type JobFilter,
  type JobRecord,
  type JobReport,
  type JobSpecRecord,
  type LogRead,
  type WorkerRecord,
  type WorkerStateName,
} from './records.js';
import { jobSpecToRow, rowToAttempt, rowToJob, rowToWorker } from './rows.js';
import type { CancelOutcome, RegisterInput, Store } from './store.js';

type Db = Knex | Knex.Transaction;

export class KnexStore implements Store {
  constructor(
    readonly knex: Knex,
    readonly dialect: 'sqlite' | 'mysql',
  ) {}

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
    const job = newJob(spec, now);
    await this.knex('jobs').insert(jobRow(job));
    return job;
  }

  async submitAndAssign(spec: JobSpecRecord, now: number, candidates: string[]): Promise<{ job: JobRecord; assignment?: Assignment }> {
    const job = newJob(spec, now);
    return this.knex.transaction(async (trx) => {
      // A job that waits in the queue already comes first: then the claim (slow path) keeps the order.
      const waiting = await trx('jobs').select('id').where({ state: 'QUEUED', queue: spec.queue }).first();
      if (!waiting) {
        for (const workerName of candidates) {
          // The same lock a claim takes, so the worker's slots are counted once.
          const worker = await this.locked(trx('workers').where({ name: workerName })).first();
          if (!worker || !ACCEPTING_WORKER_STATES.includes(worker.state)) continue;
          if (!(JSON.parse(String(worker.queues)) as string[]).includes(spec.queue)) continue;
          const { usedSlots } = await heldBy(trx, workerName);
          if (Number(worker.concurrency) - usedSlots < spec.slots) continue;
          const assigned: JobRecord = { ...job, state: 'ASSIGNED', workerName, attempt: 1 };
          await trx('jobs').insert(jobRow(assigned));
          await trx('job_attempts').insert({ job_id: job.id, attempt: 1, worker_name: workerName, state: 'ASSIGNED', assigned_at: now, reason: '', log_size: 0 });
          return { job: assigned, assignment: { attempt: 1, job: assigned } };
        }
      }
      await trx('jobs').insert(jobRow(job));
      return { job };
    });
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
    if (filter.beforeId) q.where('id', '<', filter.beforeId);
    return (await q).map(rowToJob);
  }

  async listAttempts(jobId: string): Promise<AttemptRecord[]> {
    const rows = await this.knex('job_attempts').where({ job_id: jobId }).orderBy('attempt');
    return rows.map(rowToAttempt);
  }

  async cancelJob(id: string, now: number): Promise<CancelOutcome> {
    return this.knex.transaction(async (trx) => {
      const row = await this.locked(trx('jobs').where({ id })).first();
      if (!row) throw notFound(`job ${id}`);
      const job = rowToJob(row);
      if (TERMINAL_JOB_STATES.includes(job.state)) return { kind: 'ended', job };
      if (job.state === 'QUEUED') {
        const reason = 'canceled by user';
        await trx('jobs')
          .where({ id, state: 'QUEUED' })
          .update({ state: 'CANCELED', reason, cancel_requested: true, ended_at: now, updated_at: now });
        return { kind: 'canceled', job: { ...job, state: 'CANCELED', reason, cancelRequested: true, endedAt: now, updatedAt: now } };
      }
      await trx('jobs').where({ id }).update({ cancel_requested: true, updated_at: now });
      return { kind: 'requested', job: { ...job, cancelRequested: true, updatedAt: now } };
    });
  }

  async registerWorker(input: RegisterInput, now: number): Promise<WorkerRecord> {
    await this.knex('workers')
      .insert({
        name: input.name,
        state: 'IDLE',
        queues: JSON.stringify(input.queues),
        concurrency: input.concurrency,
        version: input.version,
        first_online_at: now,
        last_heartbeat_at: now,
        updated_at: now,
      })
      .onConflict('name')
      .merge(['state', 'queues', 'concurrency', 'version', 'last_heartbeat_at', 'updated_at']);
    return (await this.getWorker(input.name))!;
  }

  async heartbeat(name: string, state: WorkerStateName, now: number): Promise<WorkerRecord | undefined> {
    const n = await this.knex('workers').where({ name }).update({ state, last_heartbeat_at: now, updated_at: now });
    return n ? this.getWorker(name) : undefined;
  }

  async getWorker(name: string): Promise<WorkerRecord | undefined> {
    const row = await this.knex('workers').where({ name }).first();
    return row ? rowToWorker(row, await heldBy(this.knex, name)) : undefined;
  }

  async listWorkers(limit: number, afterName?: string): Promise<WorkerRecord[]> {
    const q = this.knex('workers').select('*').orderBy('name').limit(limit);
    if (afterName) q.where('name', '>', afterName);
    const rows = await q;
    const held = await heldByMany(this.knex, rows.map((r) => String(r.name)));
    return rows.map((r) => rowToWorker(r, held.get(String(r.name)) ?? { jobIds: [], usedSlots: 0 }));
  }

  async claimJobs(workerName: string, now: number, maxJobs: number): Promise<Assignment[]> {
    return this.knex.transaction(async (trx) => {
      // Locking the worker row serializes claims for one worker, even across server replicas.
      const worker = await this.locked(trx('workers').where({ name: workerName })).first();
      if (!worker || !ACCEPTING_WORKER_STATES.includes(worker.state)) return [];
      const { usedSlots } = await heldBy(trx, workerName);
      let free = Number(worker.concurrency) - usedSlots;
      if (free <= 0) return [];
      const queues = JSON.parse(String(worker.queues)) as string[];
      // One index-ordered read per queue (see jobs_claim_idx), merged here in claim order. Every job
      // takes at least one slot, so no more than min(free, maxJobs) rows can be taken from a queue.
      const perQueue = Math.min(free, maxJobs);
      const rows = (await Promise.all(queues.map((queue) => this.queuedHead(trx, queue, free, perQueue)))).flat();
      rows.sort((a, b) => Number(b.priority) - Number(a.priority) || (String(a.id) < String(b.id) ? -1 : 1));
      const picked: JobRecord[] = [];
      for (const row of rows) {
        const job = rowToJob(row);
        if (picked.length >= maxJobs) break;
        if (job.slots > free) continue;
        picked.push(job);
        free -= job.slots;
      }
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
      return picked.map((j) => ({
        attempt: j.attempt + 1,
        job: { ...j, state: 'ASSIGNED', workerName, attempt: j.attempt + 1, reason: '', updatedAt: now },
      }));
    });
  }

  async queuedQueues(): Promise<string[]> {
    // A prefix of jobs_claim_idx (state, queue, …): MySQL reads it as a loose index scan.
    const rows = await this.knex('jobs').distinct('queue').where('state', 'QUEUED');
    return rows.map((r) => String(r.queue));
  }

  /** The first QUEUED jobs of a queue that fit `free` slots, locked (skipping rows others hold). */
  private queuedHead(trx: Knex.Transaction, queue: string, free: number, limit: number): Promise<Record<string, unknown>[]> {
    // Tiny tables tempt MySQL into a full scan and sort, which locks every row: insist on the index.
    const from = this.dialect === 'mysql' ? trx.from(trx.raw('jobs FORCE INDEX (jobs_claim_idx)')) : trx('jobs');
    const q = from
      .select('*')
      .where({ state: 'QUEUED', queue })
      .where('slots', '<=', free)
      .orderBy([{ column: 'priority', order: 'desc' }, { column: 'id', order: 'asc' }])
      .limit(limit);
    return this.dialect === 'mysql' ? q.forUpdate().skipLocked() : q;
  }

  async reportJob(report: JobReport, now: number): Promise<JobRecord> {
    return this.knex.transaction(async (trx) => {
      const row = await this.locked(trx('jobs').where({ id: report.jobId })).first();
      if (!row) throw notFound(`job ${report.jobId}`);
      const job = rowToJob(row);
      if (job.attempt !== report.attempt || job.workerName !== report.workerName) {
        throw new StoreError(
          'stale',
          `attempt ${report.attempt} of job ${job.id} is not held by worker ${report.workerName} ` +
            `(the job is at attempt ${job.attempt}${job.workerName ? ` on worker ${job.workerName}` : ''})`,
        );
      }
      // A re-sent report (after a reconnect) of a state already recorded changes nothing.
      if (job.state === report.state) return job;
      const where = { job_id: job.id, attempt: job.attempt };
      if (report.state === 'QUEUED') {
        if (job.state !== 'ASSIGNED') throw conflict(job, 'handed back');
        await trx('jobs').where({ id: job.id }).update({ state: 'QUEUED', worker_name: null, attempt: job.attempt - 1, updated_at: now });
        await trx('job_attempts').where(where).delete();
        return { ...job, state: 'QUEUED', workerName: null, attempt: job.attempt - 1, updatedAt: now };
      }
      if (report.state === 'RUNNING') {
        if (job.state !== 'ASSIGNED') throw conflict(job, 'started');
        await trx('jobs').where({ id: job.id }).update({ state: 'RUNNING', started_at: now, updated_at: now });
        await trx('job_attempts').where(where).update({ state: 'RUNNING', started_at: now });
        return { ...job, state: 'RUNNING', startedAt: now, updatedAt: now };
      }
      if (!HELD_JOB_STATES.includes(job.state)) throw conflict(job, `reported ${report.state}`);
      const end = { state: report.state, exit_code: report.exitCode, signal: report.signal, reason: report.reason };
      await trx('jobs').where({ id: job.id }).update({ ...end, ended_at: now, updated_at: now });
      await trx('job_attempts').where(where).update({ ...end, ended_at: now });
      return {
        ...job,
        state: report.state,
        exitCode: report.exitCode,
        signal: report.signal,
        reason: report.reason,
        endedAt: now,
        updatedAt: now,
      };
    });
  }

  async appendLog(jobId: string, attempt: number, offset: number, data: Uint8Array): Promise<number> {
    return this.knex.transaction(async (trx) => {
      const row = await this.locked(trx('job_attempts').where({ job_id: jobId, attempt })).first();
      if (!row) throw notFound(`attempt ${attempt} of job ${jobId}`);
      const size = Number(row.log_size);
      if (offset > size) {
        throw new StoreError('out-of-range', `chunk starts at byte ${offset} but the log of attempt ${attempt} of job ${jobId} holds ${size} bytes`);
      }
      const end = offset + data.length;
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
}

function newJob(spec: JobSpecRecord, now: number): JobRecord {
  return {
    ...spec,
    id: uuidv7(),
    state: 'QUEUED',
    workerName: null,
    attempt: 0,
    exitCode: null,
    signal: null,
    reason: '',
    cancelRequested: false,
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
    created_at: job.createdAt,
    updated_at: job.updatedAt,
  };
}

function conflict(job: JobRecord, what: string): StoreError {
  return new StoreError('conflict', `job ${job.id} is ${job.state} and cannot be ${what}`);
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
