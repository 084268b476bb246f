import type { StoreDb } from './dialect.js';
import { HELD_JOB_STATES } from '../domain/records.js';

/** Job secrets: the sealed values of a job, read only for the worker that holds its attempt now. */

export async function heldSecretEnv(db: StoreDb, jobId: string, attempt: number, workerName: string): Promise<string | undefined> {
  const row = await db
    .knex('jobs')
    .select('secret_env')
    .where({ id: jobId, attempt, worker_name: workerName })
    .whereIn('state', HELD_JOB_STATES)
    .first();
  return row?.secret_env ? String(row.secret_env) : undefined;
}
