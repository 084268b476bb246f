import { StoreError } from './errors.js';
import { insertEvents, stateEvent, transaction } from './job-events.js';
import { HELD_JOB_STATES, type Assignment, type JobRecord, type JobSpecRecord } from '../domain/records.js';
import { acceptsWork, claimFilter, claimOrder, claimReadAhead, fitsNow, freeSlots, pickClaims, type WorkerCapacity } from '../domain/fit.js';
import { rowToCapacity, rowToJob } from './rows.js';
import type { ClaimPolicy, ClaimResult } from './store.js';
import type { StoreDb } from './dialect.js';
import { jobRow, newJob } from './jobs.js';
import { statementsOf, valuesList, type Statements } from './statements.js';
type ClaimFilter = ReturnType<typeof claimFilter>;

/** Claims: handing QUEUED jobs to a worker, by the fit rule of domain/fit.ts, in one transaction per claim. */

export async function submitAndAssign(db: StoreDb, spec: JobSpecRecord, now: number, candidates: string[]): Promise<{ job: JobRecord; assignment?: Assignment }> {
  const job = newJob(spec, now);
  return transaction(db.knex, async (trx) => {
    const sql = await statementsOf(trx);
    // A job that waits in the queue already comes first: then the claim (slow path) keeps the order.
    // Only one the same workers could take counts (of the job's team, released; jobs_claim_idx):
    // another team's backlog in the queue, or a retry waiting out its backoff, must not hold it back.
    const waiting = await sql.one("select `id` from `jobs` where `state` = 'QUEUED' and `queue` = ? and `not_before` = 0 and `team` = ? limit 1", [
      spec.queue,
      spec.team ?? '',
    ]);
    if (!waiting) {
      for (const workerName of candidates) {
        // The same lock a claim takes, so the worker's slots are counted once.
        const capacity = await lockedCapacity(db, sql, workerName);
        if (!capacity || !fitsNow(spec, capacity)) continue;
        const at = Math.max(now, db.clock());
        const assigned: JobRecord = { ...job, state: 'ASSIGNED', workerName, attempt: 1, updatedAt: at };
        await sql.insert('jobs', [jobRow(assigned)]);
        await sql.insert('job_attempts', [{ job_id: job.id, attempt: 1, worker_name: workerName, state: 'ASSIGNED', assigned_at: at, reason: '', log_size: 0 }]);
        // Watchers see the job queued, then assigned, as on the slow path.
        await insertEvents(trx, [stateEvent(job, now), stateEvent(assigned, at)]);
        return { job: assigned, assignment: { attempt: 1, job: assigned } };
      }
    }
    await sql.insert('jobs', [jobRow(job)]);
    await insertEvents(trx, [stateEvent(job, now)]);
    return { job };
  });
}

/**
 * A worker's row, locked (which serializes claims for one worker, even across server replicas),
 * with the slots of the attempts it holds, in one statement: on MySQL each statement is a round
 * trip, and this pair was two of a claim's five. The held slots are read once the lock is granted
 * (MariaDB evaluates the subquery for the locked row; READ COMMITTED reads what was committed by
 * then), and the subquery locks no job row.
 */
async function lockedCapacity(db: StoreDb, sql: Statements, workerName: string): Promise<WorkerCapacity | undefined> {
  const held = HELD_JOB_STATES.map(() => '?').join(', ');
  const row = await sql.one(
    `select w.*, (select coalesce(sum(j.\`slots\`), 0) from \`jobs\` j where j.\`worker_name\` = w.\`name\` and j.\`state\` in (${held})) as \`held_slots\` ` +
      `from \`workers\` w where w.\`name\` = ?${db.dialect.sql.forUpdate}`,
    [...HELD_JOB_STATES, workerName],
  );
  return row && rowToCapacity(row, Number(row.held_slots));
}

export async function claimJobs(db: StoreDb, workerName: string, notBefore: number, maxJobs: number, policy: ClaimPolicy = {}): Promise<ClaimResult> {
  const reserveAfterMs = policy.reserveAfterMs ?? Infinity;
  return transaction(db.knex, async (trx) => {
    const sql = await statementsOf(trx);
    const capacity = await lockedCapacity(db, sql, workerName);
    if (!capacity || !acceptsWork(capacity.state)) return { assigned: [], freeSlots: 0 };
    // Stamped after reading the slots held: any release this claim counted on was committed, and
    // stamped, before. So the recorded intervals of a worker's attempts never overlap falsely.
    const now = Math.max(notBefore, db.clock());
    const free = freeSlots(capacity);
    if (free <= 0) return { assigned: [], freeSlots: 0 };
    // One index-ordered read per queue (see jobs_claim_idx), merged here in claim order; the rule
    // (domain/fit.ts) says what to read and what to take.
    const filter = claimFilter(capacity);
    const perQueue = claimReadAhead(free, maxJobs);
    const rows: Record<string, unknown>[] = [];
    for (const queue of capacity.queues) rows.push(...(await queuedHead(db, sql, queue, filter, perQueue)));
    const picked = pickClaims(rows.map(rowToJob).sort(claimOrder), { free, maxJobs, now, reserveAfterMs });
    if (!picked.length) return { assigned: [], freeSlots: free };
    const ids = picked.map((j) => j.id);
    const updated = await sql.run(
      `update \`jobs\` set \`state\` = 'ASSIGNED', \`worker_name\` = ?, \`attempt\` = \`attempt\` + 1, \`reason\` = '', \`updated_at\` = ? where \`id\` in (${ids.map(() => '?').join(', ')}) and ${db.dialect.sql.stateBesideId} = 'QUEUED'`,
      [workerName, now, ...ids],
    );
    if (updated !== ids.length) throw new StoreError('conflict', `claim raced: ${updated} of ${ids.length} jobs assigned`);
    await sql.run(
      `insert into \`job_attempts\` (\`job_id\`, \`attempt\`, \`worker_name\`, \`state\`, \`assigned_at\`, \`reason\`, \`log_size\`) values ${valuesList(picked.length, 7)}`,
      picked.flatMap((j) => [j.id, j.attempt + 1, workerName, 'ASSIGNED', now, '', 0]),
    );
    const assigned = picked.map((j): JobRecord => ({ ...j, state: 'ASSIGNED', workerName, attempt: j.attempt + 1, reason: '', updatedAt: now }));
    await insertEvents(trx, assigned.map((j) => ({ ...stateEvent(j, now), claimed: true as const })));
    return { assigned: assigned.map((job) => ({ job, attempt: job.attempt })), freeSlots: free - picked.reduce((n, j) => n + j.slots, 0) };
  });
}

/**
 * The first released QUEUED jobs of a queue and team that a worker of this concurrency could hold,
 * locked (skipping rows others hold). Neither retries still waiting out their backoff (they keep
 * `not_before` until releaseDueJobs in jobs.ts sets it to 0) nor other teams' jobs are read at all:
 * the claim index puts them apart (migration 0009).
 */
function queuedHead(db: StoreDb, sql: Statements, queue: string, filter: ClaimFilter, limit: number): Promise<Record<string, unknown>[]> {
  return sql.all(
    `select * from ${db.dialect.sql.claimTable} where \`state\` = 'QUEUED' and \`queue\` = ? and \`not_before\` = 0 and \`team\` = ? and \`slots\` <= ? ` +
      `order by \`priority\` desc, \`id\` asc limit ${Math.trunc(limit)}${db.dialect.sql.forUpdateSkipLocked}`,
    [queue, filter.team, filter.maxSlots],
  );
}
