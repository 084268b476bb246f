import { create } from '@bufbuild/protobuf';
import { timestampFromMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { JobSchema, JobSpecSchema, JobState, type Job } from '../../gen/edge/v1/job_pb.js';
import { WorkerSchema, WorkerState, type Worker } from '../../gen/edge/v1/worker_pb.js';
import type { JobRecord, JobStateName, WorkerRecord, WorkerStateName } from '../store/records.js';

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
