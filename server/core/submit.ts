import type { WorkerWaker } from './ports.js';
import type { JobRecord, JobSpecRecord } from '../domain/records.js';
import type { Store } from '../store/store.js';

/**
 * Submits one job. Fast path: an idle connected worker takes the job in the transaction that stores
 * it, and the assignment goes straight down its stream; otherwise the job waits in its queue and the
 * publisher wakes the queue's workers.
 */
export async function submitOne(store: Store, dispatcher: WorkerWaker, spec: JobSpecRecord, now: number): Promise<JobRecord> {
  const candidates = dispatcher.candidates(spec.queue);
  if (!candidates.length) return store.submitJob(spec, now);
  const { job, assignment } = await store.submitAndAssign(spec, now, candidates);
  if (assignment) await dispatcher.deliverAssigned(assignment);
  return job;
}
