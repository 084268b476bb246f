import type { WorkerRecord } from '../domain/records.js';
import { settingsOf } from '../domain/worker-push.js';
import type { Store } from '../store/store.js';
import type { WorkerStreams } from './ports.js';

/**
 * An operator changed a worker: the change reaches its stream at once, not at its next heartbeat.
 * When its stream is on another replica, a note in the change log tells that replica to push it.
 */
export async function pushWorkerChange(store: Store, streams: WorkerStreams, worker: WorkerRecord, now: number): Promise<void> {
  if (!streams.pushSettings(worker.name, settingsOf(worker))) await store.recordWorkerChange(worker.name, now);
}

/**
 * A worker said goodbye (an OFFLINE heartbeat): its stream ends with `why`, here or, through the
 * change log, on the replica that holds it; and what it still held ends as if it were lost.
 */
export async function workerWentOffline(store: Store, streams: WorkerStreams, worker: WorkerRecord, why: Error, now: number): Promise<WorkerRecord> {
  if (!streams.endStream(worker.name, why)) await store.recordWorkerChange(worker.name, now);
  if (!worker.jobIds.length) return worker;
  await store.releaseJobsOfOfflineWorker(worker.name, now);
  return (await store.getWorker(worker.name)) ?? worker;
}
