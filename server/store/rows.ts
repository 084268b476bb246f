import type { AttemptRecord, JobRecord, JobSpecRecord, JobStateName, SystemInfoRecord, WorkerRecord, WorkerStateName } from '../domain/records.js';
import type { WorkerCapacity } from '../domain/fit.js';

/** Mapping between table rows and records: JSON columns, numbers that drivers may return as strings. */

type Row = Record<string, unknown>;

const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v));
const numOrNull = (v: unknown): number | null => (v === null || v === undefined ? null : num(v));

export function jobSpecToRow(spec: JobSpecRecord): Row {
  return {
    queue: spec.queue,
    argv: JSON.stringify(spec.argv),
    env: JSON.stringify(spec.env),
    cwd: spec.cwd,
    slots: spec.slots,
    priority: spec.priority,
    timeout_seconds: spec.timeoutSeconds,
    max_attempts: spec.maxAttempts,
    labels: JSON.stringify(spec.labels),
    team: spec.team ?? '',
    secret_env_names: spec.secretEnvNames?.length ? JSON.stringify(spec.secretEnvNames) : null,
    secret_env: spec.sealedSecretEnv ?? null,
  };
}

export function rowToJob(r: Row): JobRecord {
  return {
    id: String(r.id),
    queue: String(r.queue),
    argv: JSON.parse(String(r.argv)) as string[],
    env: JSON.parse(String(r.env)) as Record<string, string>,
    cwd: String(r.cwd),
    slots: num(r.slots),
    priority: num(r.priority),
    timeoutSeconds: num(r.timeout_seconds),
    maxAttempts: num(r.max_attempts),
    labels: JSON.parse(String(r.labels)) as Record<string, string>,
    team: String(r.team ?? ''),
    ...(r.secret_env_names ? { secretEnvNames: JSON.parse(String(r.secret_env_names)) as string[] } : {}),
    state: r.state as JobStateName,
    workerName: (r.worker_name as string | null) ?? null,
    attempt: num(r.attempt),
    exitCode: numOrNull(r.exit_code),
    signal: (r.signal as string | null) ?? null,
    reason: String(r.reason ?? ''),
    cancelRequested: Boolean(num(r.cancel_requested)),
    notBefore: num(r.not_before ?? 0),
    queuedAt: num(r.queued_at ?? r.created_at),
    createdAt: num(r.created_at),
    startedAt: numOrNull(r.started_at),
    endedAt: numOrNull(r.ended_at),
    updatedAt: num(r.updated_at),
  };
}

export function rowToAttempt(r: Row): AttemptRecord {
  return {
    jobId: String(r.job_id),
    attempt: num(r.attempt),
    workerName: String(r.worker_name),
    state: r.state as JobStateName,
    assignedAt: num(r.assigned_at),
    startedAt: numOrNull(r.started_at),
    endedAt: numOrNull(r.ended_at),
    exitCode: numOrNull(r.exit_code),
    signal: (r.signal as string | null) ?? null,
    reason: String(r.reason ?? ''),
    logSize: num(r.log_size),
  };
}

export function rowToWorker(r: Row, held: { jobIds: string[]; usedSlots: number }): WorkerRecord {
  return {
    name: String(r.name),
    state: r.state as WorkerStateName,
    queues: JSON.parse(String(r.queues)) as string[],
    concurrency: num(r.concurrency),
    version: String(r.version),
    firstOnlineAt: num(r.first_online_at),
    lastHeartbeatAt: num(r.last_heartbeat_at),
    jobIds: held.jobIds,
    usedSlots: held.usedSlots,
    startedAt: numOrNull(r.started_at),
    maintenance: Boolean(num(r.maintenance ?? 0)),
    maintenanceComment:
      r.maintenance_comment === null || r.maintenance_comment === undefined
        ? null
        : { text: String(r.maintenance_comment), author: String(r.maintenance_author ?? ''), at: num(r.maintenance_comment_at) },
    shutdownRequested: Boolean(num(r.shutdown_requested ?? 0)),
    systemInfo: r.system_info ? (JSON.parse(String(r.system_info)) as SystemInfoRecord) : null,
    team: String(r.team ?? ''),
  };
}

/** A worker row as the scheduling rule sees it (domain/fit.ts), with the slots its jobs hold. */
export function rowToCapacity(r: Row, usedSlots: number): WorkerCapacity {
  return {
    state: r.state as WorkerStateName,
    queues: JSON.parse(String(r.queues)) as string[],
    team: String(r.team ?? ''),
    concurrency: num(r.concurrency),
    usedSlots,
  };
}
