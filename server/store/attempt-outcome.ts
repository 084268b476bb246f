import type { Knex } from 'knex';
import { insertEvents, stateEvent } from './job-events.js';
import type { JobRecord } from './records.js';

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
export async function endAttempt(trx: Knex.Transaction, job: JobRecord, outcome: Outcome, now: number, retry: RetryPolicy): Promise<JobRecord> {
  const end = { state: outcome.state, exit_code: outcome.exitCode, signal: outcome.signal, reason: outcome.reason };
  await trx('job_attempts').where({ job_id: job.id, attempt: job.attempt }).update({ ...end, ended_at: now });
  let next: JobRecord;
  if (outcome.state === 'FAILED' && job.attempt < job.maxAttempts && !job.cancelRequested) {
    const delay = retryDelayMs(retry, job.attempt);
    const reason = `attempt ${job.attempt} of ${job.maxAttempts} failed (${outcome.reason}); retrying in ${Math.round(delay / 1000)} s`;
    await trx('jobs').where({ id: job.id }).update({
      state: 'QUEUED',
      worker_name: null,
      exit_code: outcome.exitCode,
      signal: outcome.signal,
      reason,
      not_before: now + delay,
      // The queued timeout counts from when the job may run again, not through its backoff.
      queued_at: now + delay,
      updated_at: now,
    });
    next = { ...job, state: 'QUEUED', workerName: null, exitCode: outcome.exitCode, signal: outcome.signal, reason, notBefore: now + delay, queuedAt: now + delay, updatedAt: now };
  } else {
    await trx('jobs').where({ id: job.id }).update({ ...end, ended_at: now, updated_at: now });
    next = { ...job, state: outcome.state, exitCode: outcome.exitCode, signal: outcome.signal, reason: outcome.reason, endedAt: now, updatedAt: now };
  }
  await insertEvents(trx, [stateEvent(next, now)]);
  return next;
}

/** Puts an ASSIGNED job that never started back in its queue, as if the assignment never happened. */
export async function unassign(trx: Knex.Transaction, job: JobRecord, now: number, reason = ''): Promise<JobRecord> {
  await trx('jobs').where({ id: job.id }).update({ state: 'QUEUED', worker_name: null, attempt: job.attempt - 1, reason, updated_at: now });
  await trx('job_attempts').where({ job_id: job.id, attempt: job.attempt }).delete();
  const next: JobRecord = { ...job, state: 'QUEUED', workerName: null, attempt: job.attempt - 1, reason, updatedAt: now };
  await insertEvents(trx, [stateEvent(next, now)]);
  return next;
}
