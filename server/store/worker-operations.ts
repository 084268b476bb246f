import { transaction } from './job-events.js';
import type { Dialect } from './dialect.js';
import type { Knex } from 'knex';
import {
  GONE_WORKER_STATES,
  REGISTER_AGAIN_WORKER_STATES,
  reportedGivenHoldings,
  resolveReportedState,
  stateAfterMaintenanceChange,
  stateAtRegistration,
} from '../domain/worker-states.js';
import { StoreError, notFound } from './errors.js';
import { endAttempt, type RetryPolicy } from './attempt-outcome.js';
import { rowToJob } from './rows.js';
import { HELD_JOB_STATES, LIVE_WORKER_STATES, type JobRecord, type JobStateName, type MetricsSnapshot, type SystemInfoRecord, type WorkerStateName } from '../domain/records.js';
import type { BufferedHeartbeat, MaintenanceInput, RegisterInput, WorkerUpdateInput } from './store.js';

/**
 * The SQL of worker registration, heartbeats and the operators' changes to workers. Each change is
 * one short transaction that reads the worker's row under a lock (MySQL) and writes it back; the
 * store's getWorker then reads the result.
 */

type Row = Record<string, unknown>;

async function lockedWorker(trx: Knex.Transaction, dialect: Dialect, name: string): Promise<Row> {
  const q = trx('workers').where({ name });
  const row = (await dialect.locked(q).first()) as Row | undefined;
  if (!row) throw notFound(`worker ${name}`);
  return row;
}

const flag = (v: unknown) => Boolean(Number(v ?? 0));
const systemInfoColumn = (info: SystemInfoRecord | undefined) => (info ? { system_info: JSON.stringify(info) } : {});

/** Why attempts a worker held end when its name registers again (its previous run is gone). */
export const RE_REGISTERED = 'worker re-registered';

/**
 * Registers a worker. A name belongs to the team that first registered it, until that worker is
 * removed: another team's credential is refused, so a name never carries one team's jobs to
 * another. The attempts the name still holds end (retried while attempts remain): a registering
 * worker is a new run that holds none of them.
 */
export async function registerWorker(knex: Knex, dialect: Dialect, input: RegisterInput, now: number, retry: RetryPolicy): Promise<JobRecord[]> {
  return transaction(knex, async (trx) => {
    const q = trx('workers').where({ name: input.name });
    const prev = (await dialect.locked(q).first()) as Row | undefined;
    if (
      prev &&
      input.refuseIfLiveSince !== undefined &&
      LIVE_WORKER_STATES.includes(prev.state as WorkerStateName) &&
      Number(prev.last_heartbeat_at) >= input.refuseIfLiveSince
    ) {
      throw new StoreError('exists', `worker ${input.name} is registered and alive; a second worker cannot take its name`);
    }
    if (prev && String(prev.team ?? '') !== (input.team ?? '')) {
      throw new StoreError(
        'exists',
        `worker name ${input.name} belongs to another team; choose another name (an admin of that team may remove the worker to free it)`,
      );
    }
    const ended: JobRecord[] = [];
    if (prev) {
      const heldQ = trx('jobs').where({ worker_name: input.name }).whereIn('state', HELD_JOB_STATES).orderBy('id');
      for (const jobRow of (await dialect.locked(heldQ)) as Row[]) {
        const job = rowToJob(jobRow);
        const outcome = job.cancelRequested
          ? ({ state: 'CANCELED', exitCode: null, signal: null, reason: `canceled by user; ${RE_REGISTERED}` } as const)
          : ({ state: 'FAILED', exitCode: null, signal: null, reason: RE_REGISTERED } as const);
        ended.push(await endAttempt(trx, job, outcome, now, retry));
      }
    }
    const row = {
      team: input.team ?? '',
      state: stateAtRegistration(flag(prev?.maintenance)),
      queues: JSON.stringify(input.queues),
      concurrency: input.concurrency,
      version: input.version,
      last_heartbeat_at: now,
      updated_at: now,
      started_at: now,
      shutdown_requested: false,
      ...systemInfoColumn(input.systemInfo),
    };
    if (prev) await trx('workers').where({ name: input.name }).update(row);
    else await trx('workers').insert({ name: input.name, first_online_at: now, ...row });
    return ended;
  });
}

/**
 * Stores a heartbeat; false when the worker is unknown, 'offline' when it reported OFFLINE before
 * and must register again. One UPDATE, no transaction: heartbeats are the most frequent write. The
 * stored state depends on the operators' wishes in the same row, so the statement picks among the
 * outcomes resolveReportedState gives for each combination of them.
 */
export async function heartbeat(
  knex: Knex,
  name: string,
  reported: WorkerStateName,
  systemInfo: SystemInfoRecord | undefined,
  now: number,
): Promise<boolean | 'offline'> {
  const holds = await knex('jobs').select('id').where({ worker_name: name }).whereIn('state', HELD_JOB_STATES).first();
  const squared = reportedGivenHoldings(reported, holds !== undefined);
  const pick = (maintenance: boolean, shutdownRequested: boolean) => resolveReportedState(squared, { maintenance, shutdownRequested });
  // A shutdown request wins over maintenance (see resolveReportedState), so three branches suffice.
  const state = knex.raw('CASE WHEN shutdown_requested <> 0 THEN ? WHEN maintenance <> 0 THEN ? ELSE ? END', [pick(false, true), pick(true, false), pick(false, false)]);
  const q = knex('workers').where({ name });
  // A goodbye repeated is harmless; anything else from a worker that said goodbye is refused.
  if (reported !== 'OFFLINE') q.whereNotIn('state', REGISTER_AGAIN_WORKER_STATES);
  const n = await q.update({ state, last_heartbeat_at: now, updated_at: now, ...systemInfoColumn(systemInfo) });
  if (n > 0) return true;
  return (await knex('workers').select('name').where({ name }).first()) ? 'offline' : false;
}

/** Workers one UPDATE of recordHeartbeats names at most (its statement stays well under any bind limit). */
const HEARTBEAT_CHUNK = 500;

/**
 * Writes buffered heartbeats: per reported state, one UPDATE for up to HEARTBEAT_CHUNK workers, each
 * row getting its own time (and machine sample) through CASE. The stored state follows the row's
 * wishes exactly as `heartbeat` does. Each UPDATE commits by itself, as `heartbeat`'s does, outside
 * the write path's transactions: rows do not depend on each other, and a flush queued behind a
 * fleet's claims (or holding a thousand row locks in one) held heartbeats and submits for seconds.
 */
export async function recordHeartbeats(knex: Knex, beats: BufferedHeartbeat[]): Promise<void> {
  if (!beats.length) return;
  const byState = new Map<WorkerStateName, BufferedHeartbeat[]>();
  for (const b of beats) {
    const group = byState.get(b.reported);
    if (group) group.push(b);
    else byState.set(b.reported, [b]);
  }
  for (const [reported, group] of byState) {
    const pick = (maintenance: boolean, shutdownRequested: boolean) => resolveReportedState(reported, { maintenance, shutdownRequested });
    for (let i = 0; i < group.length; i += HEARTBEAT_CHUNK) {
      const chunk = group.slice(i, i + HEARTBEAT_CHUNK);
      const args: unknown[] = [pick(false, true), pick(true, false), pick(false, false)];
      let sql = 'UPDATE workers SET state = CASE WHEN shutdown_requested <> 0 THEN ? WHEN maintenance <> 0 THEN ? ELSE ? END, last_heartbeat_at = CASE name';
      for (const b of chunk) (sql += ' WHEN ? THEN ?'), args.push(b.name, b.at);
      sql += ' END, updated_at = ?';
      args.push(Math.max(...chunk.map((b) => b.at)));
      const sampled = chunk.filter((b) => b.systemInfo);
      if (sampled.length) {
        sql += ', system_info = CASE name';
        for (const b of sampled) (sql += ' WHEN ? THEN ?'), args.push(b.name, JSON.stringify(b.systemInfo));
        sql += ' ELSE system_info END';
      }
      sql += ` WHERE name IN (${chunk.map(() => '?').join(', ')}) AND state NOT IN (${REGISTER_AGAIN_WORKER_STATES.map(() => '?').join(', ')})`;
      args.push(...chunk.map((b) => b.name), ...REGISTER_AGAIN_WORKER_STATES);
      await knex.raw(sql, args as Knex.RawBinding[]);
    }
  }
}

export async function setMaintenance(knex: Knex, dialect: Dialect, input: MaintenanceInput, now: number): Promise<void> {
  await transaction(knex, async (trx) => {
    const row = await lockedWorker(trx, dialect, input.name);
    const state = row.state as WorkerStateName;
    const comment = { maintenance_comment: input.comment, maintenance_author: input.author, maintenance_comment_at: now };
    switch (input.change) {
      case 'enter':
        await trx('workers')
          .where({ name: input.name })
          .update({ maintenance: true, state: stateAfterMaintenanceChange(state, true), updated_at: now, ...comment });
        return;
      case 'exit':
        await trx('workers').where({ name: input.name }).update({
          maintenance: false,
          state: stateAfterMaintenanceChange(state, false),
          maintenance_comment: null,
          maintenance_author: null,
          maintenance_comment_at: null,
          updated_at: now,
        });
        return;
      case 'comment':
        if (!flag(row.maintenance)) {
          throw new StoreError('conflict', `worker ${input.name} is not in maintenance; put it in maintenance with a comment instead`);
        }
        await trx('workers').where({ name: input.name }).update({ updated_at: now, ...comment });
        return;
    }
  });
}

export async function updateWorker(knex: Knex, dialect: Dialect, input: WorkerUpdateInput, now: number): Promise<void> {
  await transaction(knex, async (trx) => {
    const row = await lockedWorker(trx, dialect, input.name);
    const current = JSON.parse(String(row.queues)) as string[];
    const queues = [...new Set([...current, ...input.addQueues])].filter((q) => !input.removeQueues.includes(q));
    if (!queues.length) {
      throw new StoreError('conflict', `worker ${input.name} would serve no queue (it serves ${current.join(', ')}); add one before removing the last`);
    }
    const update: Row = { queues: JSON.stringify(queues), updated_at: now };
    if (input.concurrency !== undefined) update.concurrency = input.concurrency;
    await trx('workers').where({ name: input.name }).update(update);
  });
}

export async function requestShutdown(knex: Knex, dialect: Dialect, name: string, now: number): Promise<void> {
  await transaction(knex, async (trx) => {
    const row = await lockedWorker(trx, dialect, name);
    const state = row.state as WorkerStateName;
    if (GONE_WORKER_STATES.includes(state)) throw new StoreError('conflict', `worker ${name} is ${state}: there is no process to shut down`);
    await trx('workers')
      .where({ name })
      .update({ shutdown_requested: true, state: state === 'TERMINATING' ? state : 'SHUTDOWN_REQUEST', updated_at: now });
  });
}

export async function removeWorker(knex: Knex, dialect: Dialect, name: string): Promise<void> {
  await transaction(knex, async (trx) => {
    const row = await lockedWorker(trx, dialect, name);
    const state = row.state as WorkerStateName;
    if (!GONE_WORKER_STATES.includes(state)) {
      throw new StoreError('conflict', `worker ${name} is ${state}; only OFFLINE or UNKNOWN workers can be removed (stop it first: edge workers shutdown ${name})`);
    }
    await trx('workers').where({ name }).delete();
  });
}

export async function metricsSnapshot(knex: Knex): Promise<MetricsSnapshot> {
  const [jobs, queues, workers] = (await Promise.all([
    knex('jobs').select('state', 'queue').count({ n: '*' }).groupBy('state', 'queue'),
    knex('jobs').where({ state: 'QUEUED' }).select('queue').count({ n: '*' }).min({ oldest: 'created_at' }).groupBy('queue'),
    knex('workers').select('state').count({ n: '*' }).groupBy('state'),
  ])) as Row[][];
  return {
    jobs: jobs.map((r) => ({ state: r.state as JobStateName, queue: String(r.queue), count: Number(r.n) })),
    queues: queues.map((r) => ({ queue: String(r.queue), depth: Number(r.n), oldestCreatedAt: Number(r.oldest) })),
    workers: workers.map((r) => ({ state: r.state as WorkerStateName, count: Number(r.n) })),
  };
}
