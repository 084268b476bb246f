import type { Assignment, MaintenanceCommentRecord, WorkerRecord } from './records.js';

/** What an operator wants of a worker, as the worker must learn it (at registration, heartbeat or pushed live). */
export interface WorkerSettingsRecord {
  queues: string[];
  concurrency: number;
  maintenance: boolean;
  maintenanceComment: MaintenanceCommentRecord | null;
  shutdownRequested: boolean;
}

export function settingsOf(w: WorkerRecord): WorkerSettingsRecord {
  return {
    queues: w.queues,
    concurrency: w.concurrency,
    maintenance: w.maintenance,
    maintenanceComment: w.maintenanceComment,
    shutdownRequested: w.shutdownRequested,
  };
}

/**
 * What the dispatcher pushes down a worker's stream, in domain terms: the stream handler turns each
 * into a wire message, so the dispatcher knows nothing of protobuf.
 */
export type WorkerPush =
  | { kind: 'keepalive'; at: number }
  | { kind: 'assignment'; assignment: Assignment }
  | { kind: 'cancellation'; jobId: string; attempt: number; reason: string }
  | { kind: 'settings'; settings: WorkerSettingsRecord };
