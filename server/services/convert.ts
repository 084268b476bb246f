import { create } from '@bufbuild/protobuf';
import { timestampFromMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { JobAttemptSchema, JobSchema, JobSpecSchema, JobState, type Job, type JobAttempt } from '../../gen/edge/v1/job_pb.js';
import { JobEventSchema, QueueStatsSchema, type JobEvent, type QueueStats } from '../../gen/edge/v1/job_service_pb.js';
import { MaintenanceCommentSchema, SystemInfoSchema, WorkerSchema, WorkerState, type SystemInfo, type Worker } from '../../gen/edge/v1/worker_pb.js';
import {
  FetchJobsResponseSchema,
  JobAssignmentSchema,
  JobCancellationSchema,
  StreamKeepaliveSchema,
  WorkerSettingsSchema,
  type FetchJobsResponse,
  type WorkerSettings,
} from '../../gen/edge/v1/worker_service_pb.js';
import type { WorkerPush, WorkerSettingsRecord } from '../domain/worker-push.js';
import type {
  AttemptRecord,
  JobEventRecord,
  JobRecord,
  JobStateName,
  QueueStatsRecord,
  SystemInfoRecord,
  WorkerRecord,
  WorkerStateName,
} from '../domain/records.js';
import { freeSlots, waitingReason } from '../domain/fit.js';

/** Mapping between store records and wire messages. */

const ts = (ms: number | null): Timestamp | undefined => (ms === null ? undefined : timestampFromMs(ms));

export const jobStateToWire = (s: JobStateName): JobState => JobState[s];
export const jobStateFromWire = (s: JobState): JobStateName | undefined =>
  s === JobState.UNSPECIFIED ? undefined : (JobState[s] as JobStateName | undefined);
export const workerStateToWire = (s: WorkerStateName): WorkerState => WorkerState[s];
export const workerStateFromWire = (s: WorkerState): WorkerStateName | undefined =>
  s === WorkerState.UNSPECIFIED ? undefined : (WorkerState[s] as WorkerStateName | undefined);

export function jobToWire(j: JobRecord): Job {
  return create(JobSchema, {
    id: j.id,
    team: j.team ?? '',
    cancelRequested: j.cancelRequested,
    spec: create(JobSpecSchema, {
      queue: j.queue,
      argv: j.argv,
      env: j.env,
      cwd: j.cwd,
      slots: j.slots,
      priority: j.priority,
      timeoutSeconds: j.timeoutSeconds,
      maxAttempts: j.maxAttempts,
      labels: j.labels,
      secretEnvNames: j.secretEnvNames ?? [],
    }),
    state: jobStateToWire(j.state),
    workerName: j.workerName ?? '',
    attempt: j.attempt,
    exitCode: j.exitCode ?? undefined,
    signal: j.signal ?? '',
    reason: j.reason,
    createTime: ts(j.createdAt),
    startTime: ts(j.startedAt),
    endTime: ts(j.endedAt),
    updateTime: ts(j.updatedAt),
  });
}

export function workerToWire(w: WorkerRecord): Worker {
  return create(WorkerSchema, {
    name: w.name,
    team: w.team,
    state: workerStateToWire(w.state),
    queues: w.queues,
    concurrency: w.concurrency,
    usedSlots: w.usedSlots,
    jobIds: w.jobIds,
    version: w.version,
    firstOnlineTime: ts(w.firstOnlineAt),
    lastHeartbeatTime: ts(w.lastHeartbeatAt),
    freeSlots: freeSlots(w),
    startTime: ts(w.startedAt),
    maintenance: w.maintenance,
    maintenanceComment: maintenanceCommentToWire(w),
    shutdownRequested: w.shutdownRequested,
    systemInfo: w.systemInfo ? create(SystemInfoSchema, w.systemInfo) : undefined,
  });
}

export function jobEventToWire(e: JobEventRecord): JobEvent {
  return create(JobEventSchema, {
    cursor: String(e.seq),
    jobId: e.jobId,
    queue: e.queue,
    state: jobStateToWire(e.state),
    attempt: e.attempt,
    workerName: e.workerName ?? '',
    exitCode: e.exitCode ?? undefined,
    signal: e.signal ?? '',
    reason: e.reason,
    time: timestampFromMs(e.at),
  });
}

export function queueStatsToWire(q: QueueStatsRecord): QueueStats {
  return create(QueueStatsSchema, {
    queue: q.queue,
    queued: q.counts.QUEUED,
    assigned: q.counts.ASSIGNED,
    running: q.counts.RUNNING,
    succeeded: q.counts.SUCCEEDED,
    failed: q.counts.FAILED,
    canceled: q.counts.CANCELED,
    oldestQueuedTime: ts(q.oldestQueuedAt),
    workers: q.workers,
    freeSlots: q.freeSlots,
    maxWorkerSlots: q.maxWorkerSlots,
    unplaceable: q.unplaceable.map((u) => ({ jobId: u.jobId, slots: u.slots, reason: waitingReason(q.queue, u.slots, q) ?? '' })),
    unplaceableCount: q.unplaceableCount,
  });
}

export function attemptToWire(a: AttemptRecord): JobAttempt {
  return create(JobAttemptSchema, {
    jobId: a.jobId,
    attempt: a.attempt,
    workerName: a.workerName,
    state: jobStateToWire(a.state),
    assignTime: ts(a.assignedAt),
    startTime: ts(a.startedAt),
    endTime: ts(a.endedAt),
    exitCode: a.exitCode ?? undefined,
    signal: a.signal ?? '',
    reason: a.reason,
    logSize: BigInt(a.logSize),
  });
}

const maintenanceCommentToWire = (w: Pick<WorkerRecord, 'maintenanceComment'>) =>
  w.maintenanceComment
    ? create(MaintenanceCommentSchema, { text: w.maintenanceComment.text, author: w.maintenanceComment.author, time: ts(w.maintenanceComment.at) })
    : undefined;

/** What the server wants of a worker, as pushed on its stream and returned in heartbeats. */
export function workerSettings(w: WorkerSettingsRecord): WorkerSettings {
  return create(WorkerSettingsSchema, {
    queues: w.queues,
    concurrency: w.concurrency,
    maintenance: w.maintenance,
    maintenanceComment: maintenanceCommentToWire(w),
    shutdownRequested: w.shutdownRequested,
  });
}

/**
 * A keepalive tick pushes one object to every quiet stream: its message is made once, and frozen, so
 * that the transport may encode it once too.
 */
const keepalives = new WeakMap<WorkerPush, FetchJobsResponse>();
function keepaliveToWire(p: Extract<WorkerPush, { kind: 'keepalive' }>): FetchJobsResponse {
  let message = keepalives.get(p);
  if (!message) {
    message = create(FetchJobsResponseSchema, { event: { case: 'keepalive', value: Object.freeze(create(StreamKeepaliveSchema, { serverTimeUnixMs: BigInt(p.at) })) } });
    keepalives.set(p, Object.freeze(message));
  }
  return message;
}

/** One message of a worker's FetchJobs stream, from what the dispatcher pushed. */
export function workerPushToWire(p: WorkerPush, secretEnv: Record<string, string> = {}): FetchJobsResponse {
  switch (p.kind) {
    case 'keepalive':
      return keepaliveToWire(p);
    case 'assignment':
      return create(FetchJobsResponseSchema, {
        event: { case: 'assignment', value: create(JobAssignmentSchema, { job: jobToWire(p.assignment.job), attempt: p.assignment.attempt, secretEnv }) },
      });
    case 'cancellation':
      return create(FetchJobsResponseSchema, {
        event: { case: 'cancellation', value: create(JobCancellationSchema, { jobId: p.jobId, attempt: p.attempt, reason: p.reason }) },
      });
    case 'settings':
      return create(FetchJobsResponseSchema, { event: { case: 'settings', value: workerSettings(p.settings) } });
  }
}

/** A worker's system info, with numbers bounded so that a bad report cannot poison the store. */
export function systemInfoFromWire(s: SystemInfo | undefined): SystemInfoRecord | undefined {
  if (!s) return undefined;
  const n = (v: number) => (Number.isFinite(v) ? v : 0);
  const str = (v: string) => v.slice(0, 128);
  return {
    cpuPercent: Math.min(100, Math.max(0, n(s.cpuPercent))),
    cpuCount: n(s.cpuCount),
    memoryTotalMib: n(s.memoryTotalMib),
    memoryAvailableMib: n(s.memoryAvailableMib),
    diskFreeMib: n(s.diskFreeMib),
    diskTotalMib: n(s.diskTotalMib),
    loadAverage: s.loadAverage.slice(0, 3).map(n),
    os: str(s.os),
    arch: str(s.arch),
    nodeVersion: str(s.nodeVersion),
    hostname: str(s.hostname),
  };
}
