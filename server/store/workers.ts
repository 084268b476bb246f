import type { Knex } from 'knex';
import { StoreError, notFound } from './errors.js';
import { endAttempt } from './attempt-outcome.js';
import { REGISTER_AGAIN_WORKER_STATES, reportedGivenHoldings, wentOfflineMessage } from '../domain/worker-states.js';
import { insertEvents, transaction, workerEvent } from './job-events.js';
import { HELD_JOB_STATES, LIVE_WORKER_STATES, WORKER_LOST, type HeartbeatResult, type HeldAttempt, type JobRecord, type WorkerRecord, type WorkerRow, type WorkerStateName } from '../domain/records.js';
import { rowToJob, rowToWorker } from './rows.js';
import type { HeartbeatReport, MaintenanceInput, RegisterInput, StoreHeartbeat, StoreHeartbeatOutcome, WorkerUpdateInput } from './store.js';
import type { StoreDb } from './dialect.js';
import * as workerOps from './worker-operations.js';

type Db = Knex | Knex.Transaction;

/** Workers as the store holds them: registration, heartbeats, operators' changes, and ending what a lost worker held. */

export async function registerWorker(db: StoreDb, input: RegisterInput, now: number): Promise<WorkerRecord & { endedJobs: JobRecord[] }> {
  const endedJobs = await workerOps.registerWorker(db.knex, db.dialect, input, now, db.retry);
  // Registration ended every attempt the worker held: its jobs need no read (a fleet connecting at
  // once spends its server's time sending statements).
  const row = await db.knex('workers').where({ name: input.name }).first();
  return { ...rowToWorker(row, { jobIds: [], usedSlots: 0 }), endedJobs };
}

export async function heartbeat(db: StoreDb, name: string, state: WorkerStateName, now: number, report: HeartbeatReport = {}): Promise<HeartbeatResult | undefined> {
  const stored = await workerOps.heartbeat(db.knex, name, state, report.systemInfo, now);
  if (stored === 'offline') throw new StoreError('conflict', wentOfflineMessage(name));
  if (!stored) return undefined;
  const worker = (await getWorker(db, name))!;
  const rows = worker.jobIds.length ? await db.knex('jobs').select('id', 'attempt').where({ worker_name: name }).whereIn('state', HELD_JOB_STATES) : [];
  const holding: HeldAttempt[] = rows.map((r) => ({ jobId: String(r.id), attempt: Number(r.attempt) }));
  const current = new Map(holding.map((h) => [h.jobId, h.attempt]));
  // A job it no longer holds, or the same job in another attempt (taken away and given again).
  const revoked = (report.held ?? []).filter((h) => current.get(h.jobId) !== h.attempt);
  return { worker, revoked, holding };
}

/** Workers one statement names at most (well under any bind limit): batched heartbeats and worker reads. */
const WORKERS_PER_STATEMENT = 500;

/**
 * Many heartbeats in three statements per chunk of workers: what they hold, the batched UPDATE of
 * recordHeartbeats (the stored state squared with those holdings and the row's wishes, as
 * `heartbeat` does), and their rows. Like `heartbeat`, no transaction: a job given to a worker
 * between the first read and the update is seen by its next heartbeat.
 */
export async function heartbeats(db: StoreDb, beats: StoreHeartbeat[]): Promise<StoreHeartbeatOutcome[]> {
  const out: StoreHeartbeatOutcome[] = [];
  for (let i = 0; i < beats.length; i += WORKERS_PER_STATEMENT) out.push(...(await heartbeatChunk(db, beats.slice(i, i + WORKERS_PER_STATEMENT))));
  return out;
}

async function heartbeatChunk(db: StoreDb, beats: StoreHeartbeat[]): Promise<StoreHeartbeatOutcome[]> {
  const names = beats.map((b) => b.name);
  const held = new Map<string, { holding: HeldAttempt[]; usedSlots: number }>();
  const rows = await db.knex('jobs').select('id', 'attempt', 'worker_name', 'slots').whereIn('worker_name', names).whereIn('state', HELD_JOB_STATES);
  for (const r of rows) {
    const name = String(r.worker_name);
    const h = held.get(name) ?? { holding: [], usedSlots: 0 };
    h.holding.push({ jobId: String(r.id), attempt: Number(r.attempt) });
    h.usedSlots += Number(r.slots);
    held.set(name, h);
  }
  await workerOps.recordHeartbeats(
    db.knex,
    beats.map((b) => ({ name: b.name, reported: reportedGivenHoldings(b.reported, held.has(b.name)), at: b.at, systemInfo: b.systemInfo })),
  );
  const stored = new Map((await db.knex('workers').select('*').whereIn('name', names)).map((r) => [String(r.name), r]));
  return beats.map((b) => {
    const row = stored.get(b.name);
    if (!row) return 'unknown';
    if (REGISTER_AGAIN_WORKER_STATES.includes(row.state as WorkerStateName)) return 'offline';
    const h = held.get(b.name) ?? { holding: [], usedSlots: 0 };
    const current = new Map(h.holding.map((x) => [x.jobId, x.attempt]));
    const revoked = (b.held ?? []).filter((x) => current.get(x.jobId) !== x.attempt);
    return { worker: rowToWorker(row, { jobIds: h.holding.map((x) => x.jobId), usedSlots: h.usedSlots }), revoked, holding: h.holding };
  });
}

export async function getWorker(db: StoreDb, name: string): Promise<WorkerRecord | undefined> {
  const row = await db.knex('workers').where({ name }).first();
  return row ? rowToWorker(row, await heldBy(db.knex, name)) : undefined;
}

export async function listWorkers(db: StoreDb, limit: number, afterName?: string, states?: WorkerStateName[], team?: string): Promise<WorkerRecord[]> {
  const q = db.knex('workers').select('*').orderBy('name').limit(limit);
  if (team !== undefined) q.where('team', team);
  if (afterName) q.where('name', '>', afterName);
  if (states?.length) q.whereIn('state', states);
  const rows = await q;
  const held = await heldByMany(db.knex, rows.map((r) => String(r.name)));
  return rows.map((r) => rowToWorker(r, held.get(String(r.name)) ?? { jobIds: [], usedSlots: 0 }));
}

export async function setWorkerMaintenance(db: StoreDb, input: MaintenanceInput, now: number): Promise<WorkerRecord> {
  await workerOps.setMaintenance(db.knex, db.dialect, input, now);
  return (await getWorker(db, input.name))!;
}

export async function updateWorker(db: StoreDb, input: WorkerUpdateInput, now: number): Promise<WorkerRecord> {
  await workerOps.updateWorker(db.knex, db.dialect, input, now);
  return (await getWorker(db, input.name))!;
}

export async function requestWorkerShutdown(db: StoreDb, name: string, now: number): Promise<WorkerRecord> {
  await workerOps.requestShutdown(db.knex, db.dialect, name, now);
  return (await getWorker(db, name))!;
}

export async function removeWorker(db: StoreDb, name: string): Promise<WorkerRecord> {
  const before = await getWorker(db, name);
  if (!before) throw notFound(`worker ${name}`);
  await workerOps.removeWorker(db.knex, db.dialect, name);
  return before;
}

export async function reapLostWorkers(db: StoreDb, now: number, timeoutMs: number): Promise<{ workers: string[]; jobs: JobRecord[] }> {
  const cutoff = now - timeoutMs;
  const lost = await db.knex('workers').select('name').whereIn('state', LIVE_WORKER_STATES).where('last_heartbeat_at', '<', cutoff);
  const workers: string[] = [];
  const jobs: JobRecord[] = [];
  for (const { name } of lost) {
    // Conditional on the stale heartbeat: a heartbeat that lands meanwhile keeps the worker alive.
    const n = await db.knex('workers')
      .where({ name })
      .whereIn('state', LIVE_WORKER_STATES)
      .where('last_heartbeat_at', '<', cutoff)
      .update({ state: 'UNKNOWN', updated_at: now });
    if (!n) continue;
    workers.push(String(name));
    // Every replica hears of it: one that answers this worker's heartbeats from memory reads it again.
    await insertEvents(db.knex, [workerEvent(String(name), now, WORKER_LOST)]);
    jobs.push(...(await endHeldJobs(db, String(name), now, 'worker lost', 'canceled by user; its worker was lost')));
  }
  return { workers, jobs };
}

export async function releaseJobsOfOfflineWorker(db: StoreDb, name: string, now: number): Promise<JobRecord[]> {
  return endHeldJobs(db, name, now, 'worker went OFFLINE while holding it', 'canceled by user; its worker went OFFLINE');
}

/** Ends every attempt a worker holds (it is gone): FAILED (retried while tries remain), or CANCELED when asked. */
async function endHeldJobs(db: StoreDb, name: string, now: number, reason: string, canceledReason: string): Promise<JobRecord[]> {
  const jobs: JobRecord[] = [];
  const held = await db.knex('jobs').select('id').where({ worker_name: name }).whereIn('state', HELD_JOB_STATES);
  for (const { id } of held) {
    const job = await transaction(db.knex, async (trx) => {
      const row = await db.dialect.locked(trx('jobs').where({ id })).first();
      if (!row) return undefined;
      const j = rowToJob(row);
      if (j.workerName !== name || !HELD_JOB_STATES.includes(j.state)) return undefined;
      const outcome = j.cancelRequested
        ? ({ state: 'CANCELED', exitCode: null, signal: null, reason: canceledReason } as const)
        : ({ state: 'FAILED', exitCode: null, signal: null, reason } as const);
      return endAttempt(trx, j, outcome, now, db.retry);
    });
    if (job) jobs.push(job);
  }
  return jobs;
}

export async function recordWorkerChange(db: StoreDb, name: string, now: number): Promise<void> {
  await insertEvents(db.knex, [workerEvent(name, now)]);
}

export async function liveWorkers(db: StoreDb): Promise<WorkerRecord[]> {
  const rows = await db.knex('workers').whereIn('state', LIVE_WORKER_STATES).orderBy('name');
  const held = await heldByMany(db.knex, rows.map((r) => String(r.name)));
  return rows.map((r) => rowToWorker(r, held.get(String(r.name)) ?? { jobIds: [], usedSlots: 0 }));
}


/** Workers' rows by name, without what they hold: one statement per chunk of names. */
export async function workerRows(db: StoreDb, names: string[]): Promise<Map<string, WorkerRow>> {
  const out = new Map<string, WorkerRow>();
  for (let i = 0; i < names.length; i += WORKERS_PER_STATEMENT) {
    for (const r of await db.knex('workers').select('*').whereIn('name', names.slice(i, i + WORKERS_PER_STATEMENT))) {
      const { jobIds: _j, usedSlots: _u, ...row } = rowToWorker(r, { jobIds: [], usedSlots: 0 });
      out.set(row.name, row);
    }
  }
  return out;
}

export async function heldBy(db: Db, workerName: string): Promise<{ jobIds: string[]; usedSlots: number }> {
  return (await heldByMany(db, [workerName])).get(workerName) ?? { jobIds: [], usedSlots: 0 };
}

export async function heldByMany(db: Db, names: string[]): Promise<Map<string, { jobIds: string[]; usedSlots: number }>> {
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
