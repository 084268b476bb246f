import type { Knex } from 'knex';
import { insertEvents, stateEvent } from './job-events.js';
import { statementsOf } from './statements.js';
import type { JobRecord } from '../domain/records.js';

export interface Outcome {
  state: 'SUCCEEDED' | 'FAILED' | 'CANCELED';
  exitCode: number | null;
  signal: string | null;
  reason: string;
}

/** Waits between attempts of a failed job: base × 2^(attempt-1), at most max. */
export interface RetryPolicy {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 10_000, maxMs: 600_000 };

export function retryDelayMs(policy: RetryPolicy, attempt: number): number {
  return Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt - 1));
}

/**
 * Ends the current attempt of a held job with an outcome. The job ends with it — unless the attempt
 * failed, attempts remain and nobody asked to cancel: then it goes back to its queue, to run again
 * after the retry backoff. Writes the change to the log; returns the job as it now stands.
 */
export async function endAttempt(
  trx: Knex.Transaction,
  held: JobRecord,
  outcome: Outcome,
  now: number,
  retry: RetryPolicy,
  startedAt?: number,
): Promise<JobRecord> {
  const sql = await statementsOf(trx);
  // A job whose start is reported with its end (it ended before its RUNNING report went out) is
  // marked started in the same statement that ends it, and both its events go in one insert.
  const job: JobRecord = startedAt === undefined ? held : { ...held, state: 'RUNNING', startedAt, updatedAt: now };
  const started = startedAt === undefined ? {} : { started_at: startedAt };
  const attemptEnd = { state: outcome.state, exit_code: outcome.exitCode, signal: outcome.signal, reason: outcome.reason, ended_at: now, ...started };
  let next: JobRecord;
  // Attempts handed back before they started are on record but used none of the job's tries
  // (only a failure asks, and a first attempt has none before it).
  const failed = outcome.state === 'FAILED';
  const tries = failed && job.attempt > 1 ? job.attempt - (await handedBackAttempts(trx, job.id)) : job.attempt;
  if (failed && tries < job.maxAttempts && !job.cancelRequested) {
    const delay = retryDelayMs(retry, tries);
    const which = tries === job.attempt ? `attempt ${job.attempt}` : `attempt ${job.attempt} (try ${tries})`;
    const reason = `${which} of ${job.maxAttempts} failed (${outcome.reason}); retrying in ${Math.round(delay / 1000)} s`;
    // The queued timeout counts from when the job may run again, not through its backoff. With a
    // backoff it waits unreleased (not_before set), out of claims' reach, until releaseDueJobs
    // (jobs.ts) releases it: the dispatcher's timer for `dueAt`, or any replica's sweep.
    const notBefore = delay > 0 ? now + delay : 0;
    const queuedAgain = { state: 'QUEUED', worker_name: null, exit_code: outcome.exitCode, signal: outcome.signal, reason, not_before: notBefore, queued_at: now + delay, updated_at: now, ...started };
    await sql.updateJobAndAttempt(job.id, job.attempt, queuedAgain, attemptEnd);
    next = { ...job, state: 'QUEUED', workerName: null, exitCode: outcome.exitCode, signal: outcome.signal, reason, notBefore, queuedAt: now + delay, updatedAt: now };
  } else {
    await sql.updateJobAndAttempt(job.id, job.attempt, { ...attemptEnd, updated_at: now }, attemptEnd);
    next = { ...job, state: outcome.state, exitCode: outcome.exitCode, signal: outcome.signal, reason: outcome.reason, endedAt: now, updatedAt: now };
  }
  const ended = { ...stateEvent(next, now), releasedBy: job.workerName, ...(next.notBefore > 0 && next.state === 'QUEUED' ? { dueAt: next.notBefore } : {}) };
  await insertEvents(trx, startedAt === undefined ? [ended] : [stateEvent(job, now), ended]);
  return next;
}

/** Why a job whose cancel was stored before it started ended without running. */
export const CANCELED_BEFORE_START = 'canceled by user before it started';

/**
 * Ends the attempt of an ASSIGNED job that never started (handed back by its worker, or not started
 * within the assign timeout): the attempt stays on record as QUEUED with the reason, so a late report
 * about it is told apart from the next attempt, and the job goes back to its queue. A job whose
 * cancel was stored meanwhile ends CANCELED instead: a cancel wins over a start that has not happened.
 */
export async function unassign(trx: Knex.Transaction, job: JobRecord, now: number, reason: string): Promise<JobRecord> {
  if (job.cancelRequested) return endAttempt(trx, job, { state: 'CANCELED', exitCode: null, signal: null, reason: CANCELED_BEFORE_START }, now, DEFAULT_RETRY);
  const sql = await statementsOf(trx);
  // Released (not_before 0): it was due when it was assigned, so claims take it again at once.
  await sql.updateJobAndAttempt(job.id, job.attempt, { state: 'QUEUED', worker_name: null, reason, not_before: 0, updated_at: now }, { state: 'QUEUED', reason, ended_at: now });
  const next: JobRecord = { ...job, state: 'QUEUED', workerName: null, reason, notBefore: 0, updatedAt: now };
  await insertEvents(trx, [{ ...stateEvent(next, now), releasedBy: job.workerName }]);
  return next;
}

async function handedBackAttempts(trx: Knex.Transaction, jobId: string): Promise<number> {
  const [row] = (await trx('job_attempts').where({ job_id: jobId, state: 'QUEUED' }).count({ n: '*' })) as [{ n: number | string }];
  return Number(row.n);
}
