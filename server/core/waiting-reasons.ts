import type { JobRecord } from '../domain/records.js';
import { queueCapacities, waitingReason } from '../domain/fit.js';
import type { Store } from '../store/store.js';

/**
 * Says why queued jobs wait when no live worker could ever take them, instead of letting them wait
 * silently: "no worker of queue q has 4 slots". Computed when read, so it is never stale.
 */
export async function explainWaiting(store: Store, jobs: JobRecord[]): Promise<JobRecord[]> {
  if (!jobs.some((j) => j.state === 'QUEUED')) return jobs;
  const capacity = queueCapacities(await store.liveWorkers());
  return jobs.map((j) => {
    if (j.state !== 'QUEUED') return j;
    const reason = waitingReason(j.queue, j.slots, capacity.get(j.queue));
    return reason ? { ...j, reason } : j;
  });
}
