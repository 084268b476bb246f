import { create } from '@bufbuild/protobuf';
import { timestampFromMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { JobSchema, JobSpecSchema, JobState, type Job } from '../../gen/edge/v1/job_pb.js';
import { MaintenanceCommentSchema, SystemInfoSchema, WorkerSchema, WorkerState, type SystemInfo, type Worker } from '../../gen/edge/v1/worker_pb.js';
import { WorkerSettingsSchema, type WorkerSettings } from '../../gen/edge/v1/worker_service_pb.js';
import type { JobRecord, JobStateName, SystemInfoRecord, WorkerRecord, WorkerStateName } from '../store/records.js';

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
    freeSlots: Math.max(0, w.concurrency - w.usedSlots),
    startTime: ts(w.startedAt),
    maintenance: w.maintenance,
    maintenanceComment: maintenanceCommentToWire(w),
    shutdownRequested: w.shutdownRequested,
    systemInfo: w.systemInfo ? create(SystemInfoSchema, w.systemInfo) : undefined,
  });
}

const maintenanceCommentToWire = (w: WorkerRecord) =>
  w.maintenanceComment
    ? create(MaintenanceCommentSchema, { text: w.maintenanceComment.text, author: w.maintenanceComment.author, time: ts(w.maintenanceComment.at) })
    : undefined;

/** What the server wants of a worker, as pushed on its stream and returned in heartbeats. */
export function workerSettings(w: WorkerRecord): WorkerSettings {
  return create(WorkerSettingsSchema, {
    queues: w.queues,
    concurrency: w.concurrency,
    maintenance: w.maintenance,
    maintenanceComment: maintenanceCommentToWire(w),
    shutdownRequested: w.shutdownRequested,
  });
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
