import type { Knex } from 'knex';
import { StoreError } from './errors.js';
import { insertEvents, stateEvent, transaction } from './job-events.js';
import type { Assignment, JobRecord, JobSpecRecord } from '../domain/records.js';
import { acceptsWork, claimFilter, claimOrder, claimReadAhead, fitsNow, freeSlots, pickClaims } from '../domain/fit.js';
import { rowToCapacity, rowToJob } from './rows.js';
import type { ClaimPolicy, ClaimResult } from './store.js';
import type { StoreDb } from './dialect.js';
import { jobRow, newJob } from './jobs.js';
import { heldBy } from './workers.js';
type ClaimFilter = ReturnType<typeof claimFilter>;

/** Claims: handing QUEUED jobs to a worker, by the fit rule of domain/fit.ts, in one transaction per claim. */

export async function submitAndAssign(db: StoreDb, spec: JobSpecRecord, now: number, candidates: string[]): Promise<{ job: JobRecord; assignment?: Assignment }> {
  const job = newJob(spec, now);
  return transaction(db.knex, async (trx) => {
    // A job that waits in the queue already comes first: then the claim (slow path) keeps the order.
    const waiting = await trx('jobs').select('id').where({ state: 'QUEUED', queue: spec.queue }).first();
    if (!waiting) {
      for (const workerName of candidates) {
        // The same lock a claim takes, so the worker's slots are counted once.
        const worker = await db.dialect.locked(trx('workers').where({ name: workerName })).first();
        if (!worker) continue;
        const { usedSlots } = await heldBy(trx, workerName);
        if (!fitsNow(spec, rowToCapacity(worker, usedSlots))) continue;
        const at = Math.max(now, db.clock());
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

export async function claimJobs(db: StoreDb, workerName: string, notBefore: number, maxJobs: number, policy: ClaimPolicy = {}): Promise<ClaimResult> {
  const reserveAfterMs = policy.reserveAfterMs ?? Infinity;
  return transaction(db.knex, async (trx) => {
    // Locking the worker row serializes claims for one worker, even across server replicas.
    const worker = await db.dialect.locked(trx('workers').where({ name: workerName })).first();
    if (!worker || !acceptsWork(worker.state)) return { assigned: [], freeSlots: 0 };
    const { usedSlots } = await heldBy(trx, workerName);
    const capacity = rowToCapacity(worker, usedSlots);
    // Stamped after reading the slots held: any release this claim counted on was committed, and
    // stamped, before. So the recorded intervals of a worker's attempts never overlap falsely.
    const now = Math.max(notBefore, db.clock());
    const free = freeSlots(capacity);
    if (free <= 0) return { assigned: [], freeSlots: 0 };
    // One index-ordered read per queue (see jobs_claim_idx), merged here in claim order; the rule
    // (domain/fit.ts) says what to read and what to take.
    const filter = claimFilter(capacity, Math.max(notBefore, db.clock()));
    const perQueue = claimReadAhead(free, maxJobs);
    const rows = (await Promise.all(capacity.queues.map((queue) => queuedHead(db, trx, queue, filter, perQueue)))).flat();
    const picked = pickClaims(rows.map(rowToJob).sort(claimOrder), { free, maxJobs, now, reserveAfterMs });
    if (!picked.length) return { assigned: [], freeSlots: free };
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
    return { assigned: assigned.map((job) => ({ job, attempt: job.attempt })), freeSlots: free - picked.reduce((n, j) => n + j.slots, 0) };
  });
}

/** The first QUEUED jobs of a queue that a worker of this concurrency could hold, locked (skipping rows others hold). */
function queuedHead(db: StoreDb, trx: Knex.Transaction, queue: string, filter: ClaimFilter, limit: number): Promise<Record<string, unknown>[]> {
  const q = db.dialect
    .claimSource(trx)
    .select('*')
    .where({ state: 'QUEUED', queue })
    .where('team', filter.team)
    .where('slots', '<=', filter.maxSlots)
    .where('not_before', '<=', filter.due)
    .orderBy([{ column: 'priority', order: 'desc' }, { column: 'id', order: 'asc' }])
    .limit(limit);
  return db.dialect.lockedSkippingLocked(q);
}
