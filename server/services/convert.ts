import { create } from '@bufbuild/protobuf';
import { timestampFromMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { JobAttemptSchema, JobSchema, JobSpecSchema, JobState, type Job, type JobAttempt } from '../../gen/edge/v1/job_pb.js';
import { WorkerSchema, WorkerState, type Worker } from '../../gen/edge/v1/worker_pb.js';
import { JobEventSchema, QueueStatsSchema, type JobEvent, type QueueStats } from '../../gen/edge/v1/job_service_pb.js';
import type { AttemptRecord, JobEventRecord, JobRecord, JobStateName, QueueStatsRecord, WorkerRecord, WorkerStateName } from '../store/records.js';
import { waitingReason } from './waiting-reasons.js';

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
    state: workerStateToWire(w.state),
    queues: w.queues,
    concurrency: w.concurrency,
    usedSlots: w.usedSlots,
    jobIds: w.jobIds,
    version: w.version,
    firstOnlineTime: ts(w.firstOnlineAt),
    lastHeartbeatTime: ts(w.lastHeartbeatAt),
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
    unplaceable: q.unplaceable.map((u) => ({ jobId: u.jobId, slots: u.slots, reason: waitingReason(q.queue, u.slots, q.maxWorkerSlots) ?? '' })),
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
