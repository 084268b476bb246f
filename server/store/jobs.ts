import type { Knex } from 'knex';
import { newId } from './ids.js';
import { StoreError, notFound } from './errors.js';
import { CANCELED_BEFORE_START, endAttempt, unassign } from './attempt-outcome.js';
import { judgeReport } from '../domain/job-transitions.js';
import { insertEvents, stateEvent, transaction } from './job-events.js';
import { statementsOf, type Statements } from './statements.js';
import { TERMINAL_JOB_STATES, type ReportCaller, type AttemptRecord, type JobFilter, type JobRecord, type JobReport, type JobSpecRecord, type Retention } from '../domain/records.js';
import { jobSpecToRow, rowToAttempt, rowToJob } from './rows.js';
import type { CancelOutcome, ReleasedJobs } from './store.js';
import type { StoreDb } from './dialect.js';

/** Jobs and their attempts: submit, read, cancel, the reports of their workers, and the sweeps that end or purge them. */

export async function submitJob(db: StoreDb, spec: JobSpecRecord, now: number): Promise<JobRecord> {
  return (await submitJobs(db, [spec], now))[0]!;
}

export async function submitJobs(db: StoreDb, specs: JobSpecRecord[], now: number): Promise<JobRecord[]> {
  const jobs = specs.map((spec) => newJob(spec, now));
  await transaction(db.knex, async (trx) => {
    // Chunks keep each statement well under the drivers' placeholder limits.
    const sql = await statementsOf(trx);
    for (let i = 0; i < jobs.length; i += 200) {
      const chunk = jobs.slice(i, i + 200);
      await sql.insert('jobs', chunk.map(jobRow));
      await insertEvents(trx, chunk.map((job) => stateEvent(job, now)));
    }
  });
  return jobs;
}

export async function queuedQueues(db: StoreDb): Promise<string[]> {
  // One index seek per queue: `min(queue)` past the last one found. DISTINCT (or GROUP BY) read
  // every QUEUED entry of jobs_claim_idx instead, on both databases: per sweep, with 100,000 jobs
  // queued, 4 ms on SQLite and 17 ms on MariaDB.
  const queues: string[] = [];
  for (;;) {
    const last = queues.at(-1);
    const q = db.knex('jobs').min({ queue: 'queue' }).where('state', 'QUEUED');
    if (last !== undefined) q.where('queue', '>', last);
    const next = ((await q) as { queue: string | null }[])[0]?.queue;
    if (next === null || next === undefined || queues.includes(String(next))) return queues;
    queues.push(String(next));
  }
}

/** Retries released per transaction: a short write, however many fall due at once. */
const RELEASE_BATCH = 500;

export async function releaseDueJobs(db: StoreDb, queues: string[], now: number): Promise<ReleasedJobs> {
  const released: ReleasedJobs['released'] = [];
  let nextDueAt: number | undefined;
  for (const queue of queues) {
    let jobs = 0;
    for (;;) {
      const n = await transaction(db.knex, async (trx) => {
        const sql = await statementsOf(trx);
        const at = Math.max(now, db.clock());
        // A range of jobs_claim_idx: (QUEUED, queue, 0 < not_before <= at).
        const due = await sql.all(
          `select \`id\` from \`jobs\` where \`state\` = 'QUEUED' and \`queue\` = ? and \`not_before\` > 0 and \`not_before\` <= ? limit ${RELEASE_BATCH}`,
          [queue, at],
        );
        if (!due.length) return 0;
        const ids = due.map((r) => String(r.id));
        // The read locked nothing (MySQL): a job released, run and queued again meanwhile keeps its new backoff.
        await sql.run(
          `update \`jobs\` set \`not_before\` = 0 where \`id\` in (${ids.map(() => '?').join(', ')}) and ${db.dialect.sql.stateBesideId} = 'QUEUED' and \`not_before\` > 0 and \`not_before\` <= ?`,
          [...ids, at],
        );
        return ids.length;
      });
      jobs += n;
      if (n < RELEASE_BATCH) break;
    }
    if (jobs) released.push({ queue, jobs });
    // The same range of jobs_claim_idx, past what was released.
    const next = await db.knex('jobs').min({ due: 'not_before' }).where({ state: 'QUEUED', queue }).where('not_before', '>', 0);
    const due = (next as { due: number | string | null }[])[0]?.due;
    if (due !== null && due !== undefined) nextDueAt = Math.min(nextDueAt ?? Infinity, Number(due));
  }
  return { released, nextDueAt };
}

export async function getJob(db: StoreDb, id: string): Promise<JobRecord | undefined> {
  const row = await db.knex('jobs').where({ id }).first();
  return row ? rowToJob(row) : undefined;
}

export async function listJobs(db: StoreDb, filter: JobFilter): Promise<JobRecord[]> {
  const q = db.knex('jobs').select('*').orderBy('id', 'desc').limit(filter.limit);
  if (filter.queue) q.where('queue', filter.queue);
  if (filter.states?.length) q.whereIn('state', filter.states);
  if (filter.workerName) q.where('worker_name', filter.workerName);
  if (filter.team !== undefined) q.where('team', filter.team);
  if (filter.beforeId) q.where('id', '<', filter.beforeId);
  return (await q).map(rowToJob);
}

export async function listAttempts(db: StoreDb, jobId: string): Promise<AttemptRecord[]> {
  const rows = await db.knex('job_attempts').where({ job_id: jobId }).orderBy('attempt');
  return rows.map(rowToAttempt);
}

export async function cancelJob(db: StoreDb, id: string, now: number): Promise<CancelOutcome> {
  return transaction(db.knex, async (trx) => {
    const row = await db.dialect.locked(trx('jobs').where({ id })).first();
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

export async function reportJob(db: StoreDb, report: JobReport, notBefore: number): Promise<JobRecord> {
  const [outcome] = await reportJobs(db, [report], notBefore);
  if (outcome instanceof StoreError) throw outcome;
  return outcome!;
}

/**
 * Applies reports on different jobs in one operation of the write path: their rows are read (and
 * locked) by one statement and, on MySQL, the attempts they end are written by one per kind of
 * change (Statements.withBatchedUpdates). Each report gets its job as it now stands, or the
 * StoreError that refused it (stale, foreign, not allowed): a refused report changes nothing,
 * and the others still apply.
 */
export async function reportJobs(db: StoreDb, reports: JobReport[], notBefore: number): Promise<(JobRecord | StoreError)[]> {
  const ids = [...new Set(reports.map((r) => r.jobId))];
  if (ids.length !== reports.length) throw new Error('reportJobs takes one report per job; apply the next report of a job after the first');
  return transaction(db.knex, async (trx) => {
    const sql = await statementsOf(trx);
    const rows = await sql.all(`select * from \`jobs\` where \`id\` in (${ids.map(() => '?').join(', ')})${db.dialect.sql.forUpdate}`, ids);
    const byId = new Map(rows.map((row) => [String(row.id), row]));
    const now = Math.max(notBefore, db.clock());
    return sql.withBatchedUpdates(async () => {
      const out: (JobRecord | StoreError)[] = [];
      for (const report of reports) {
        try {
          out.push(await applyReport(trx, db, sql, byId.get(report.jobId), report, now));
        } catch (err) {
          // Refusals are found before anything is written; any other error fails the whole operation.
          if (!(err instanceof StoreError)) throw err;
          out.push(err);
        }
      }
      return out;
    });
  });
}

async function applyReport(trx: Knex.Transaction, db: StoreDb, sql: Statements, row: Record<string, unknown> | undefined, report: JobReport, now: number): Promise<JobRecord> {
  if (report.caller) await mayReport(sql, row, report.jobId, report.workerName, report.caller);
  if (!row) throw notFound(`job ${report.jobId}`);
  const job = rowToJob(row);
  if (job.attempt !== report.attempt || job.workerName !== report.workerName) {
    throw new StoreError(
      'stale',
      `attempt ${report.attempt} of job ${job.id} is not held by worker ${report.workerName} ` +
        `(the job is at attempt ${job.attempt}${job.workerName ? ` on worker ${job.workerName}` : ''})`,
    );
  }
  const startedToo = report.ranForMs !== undefined && report.ranForMs !== null;
  const verdict = judgeReport({ from: job.state, state: report.state, cancelRequested: job.cancelRequested, exitCode: report.exitCode, signal: report.signal, startedToo });
  // A re-sent report (after a reconnect) of a state already recorded changes nothing.
  if (verdict.kind === 'repeat') return job;
  if (verdict.kind === 'refused') throw new StoreError('conflict', `job ${job.id}: ${verdict.message}`);
  if (verdict.kind === 'cancel-wins') {
    return endAttempt(trx, job, { state: 'CANCELED', exitCode: null, signal: null, reason: CANCELED_BEFORE_START }, now, db.retry);
  }
  if (report.state === 'QUEUED') return unassign(trx, job, now, `handed back by worker ${job.workerName}`);
  // Started no earlier than it was assigned (the job's last update), whatever the worker measured.
  const startedAt = startedToo ? Math.max(job.updatedAt, now - report.ranForMs!) : now;
  if (report.state === 'RUNNING') return markRunning(trx, job, startedAt, now);
  const state = report.state as 'SUCCEEDED' | 'FAILED' | 'CANCELED';
  const outcome = { state, exitCode: report.exitCode, signal: report.signal, reason: report.reason };
  return endAttempt(trx, job, outcome, now, db.retry, verdict.kind === 'start-and-end' ? startedAt : undefined);
}

/**
 * A worker reports only on a job of its team that it holds or once held. A job that does not exist
 * gets the same answer as another team's or worker's, so a worker token learns nothing of job ids.
 */
async function mayReport(sql: Statements, row: Record<string, unknown> | undefined, jobId: string, workerName: string, caller: ReportCaller): Promise<void> {
  const team = String(row?.team ?? '');
  let mine = row !== undefined && (caller.seesTeam === undefined || caller.seesTeam === team);
  if (mine) {
    const workerTeam = caller.workerTeam ?? (await sql.one('select `team` from `workers` where `name` = ?', [workerName]))?.team;
    mine = workerTeam !== undefined && String(workerTeam) === team;
  }
  // Held now, or once: a late report about an earlier attempt is stale, not foreign.
  if (mine && row!.worker_name !== workerName) {
    mine = (await sql.one('select `attempt` from `job_attempts` where `job_id` = ? and `worker_name` = ? limit 1', [jobId, workerName])) !== undefined;
  }
  if (!mine) throw new StoreError('forbidden', `job ${jobId} is not assigned to worker ${workerName}`);
}

async function markRunning(trx: Knex.Transaction, job: JobRecord, startedAt: number, now: number): Promise<JobRecord> {
  const sql = await statementsOf(trx);
  await sql.updateJobAndAttempt(job.id, job.attempt, { state: 'RUNNING', started_at: startedAt, updated_at: now }, { state: 'RUNNING', started_at: startedAt });
  const running: JobRecord = { ...job, state: 'RUNNING', startedAt, updatedAt: now };
  await insertEvents(trx, [stateEvent(running, now)]);
  return running;
}

export async function requeueUnacknowledged(db: StoreDb, now: number, timeoutMs: number): Promise<JobRecord[]> {
  const stale = await db.knex('jobs').select('id').where('state', 'ASSIGNED').where('updated_at', '<', now - timeoutMs).limit(500);
  const out: JobRecord[] = [];
  for (const { id } of stale) {
    const job = await transaction(db.knex, async (trx) => {
      const row = await db.dialect.locked(trx('jobs').where({ id, state: 'ASSIGNED' })).first();
      if (!row || Number(row.updated_at) >= now - timeoutMs) return undefined;
      const j = rowToJob(row);
      return unassign(trx, j, now, `worker ${j.workerName} did not start attempt ${j.attempt} in time; queued again`);
    });
    if (job) out.push(job);
  }
  return out;
}

export async function expireQueued(db: StoreDb, now: number, timeoutMs: number): Promise<JobRecord[]> {
  const stale = await db.knex('jobs').select('id').where('state', 'QUEUED').where('queued_at', '<', now - timeoutMs).limit(500);
  const out: JobRecord[] = [];
  for (const { id } of stale) {
    const job = await transaction(db.knex, async (trx) => {
      const row = await db.dialect.locked(trx('jobs').where({ id, state: 'QUEUED' })).first();
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

export async function purgeFinished(db: StoreDb, now: number, retention: Retention, batch: number): Promise<number> {
  let purged = 0;
  const rules: [string[], number][] = [
    [['SUCCEEDED'], retention.succeededMs],
    [['FAILED', 'CANCELED'], retention.failedMs],
  ];
  for (const [states, keepMs] of rules) {
    const rows = await db.knex('jobs').select('id').whereIn('state', states).where('ended_at', '<', now - keepMs).limit(batch);
    const ids = rows.map((r) => String(r.id));
    if (!ids.length) continue;
    // Small batches, one table at a time: no statement holds many locks for long.
    await db.knex('log_chunks').whereIn('job_id', ids).delete();
    await db.knex('job_attempts').whereIn('job_id', ids).delete();
    await db.knex('job_events').whereIn('job_id', ids).delete();
    purged += await db.knex('jobs').whereIn('id', ids).whereIn('state', states).delete();
  }
  // Worker-change notes only matter for the moment it takes replicas to read them.
  await db.knex('job_events').where({ kind: 'worker' }).where('at', '<', now - 86_400_000).delete();
  return purged;
}


export function newJob(spec: JobSpecRecord, now: number): JobRecord {
  return {
    ...spec,
    team: spec.team ?? '',
    id: newId(),
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

export function jobRow(job: JobRecord): Record<string, unknown> {
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
