import type { JobRecord } from '../domain/records.js';
import type { Store } from '../store/store.js';

/**
 * Says why queued jobs wait when no live worker could ever take them, instead of letting them wait
 * silently: "no worker of queue q has 4 slots". Computed when read, so it is never stale.
 */
export async function explainWaiting(store: Store, jobs: JobRecord[]): Promise<JobRecord[]> {
  if (!jobs.some((j) => j.state === 'QUEUED')) return jobs;
  const maxSlots = new Map<string, number>();
  for (const w of await store.liveWorkers()) {
    for (const q of w.queues) maxSlots.set(q, Math.max(maxSlots.get(q) ?? 0, w.concurrency));
  }
  return jobs.map((j) => {
    if (j.state !== 'QUEUED') return j;
    const reason = waitingReason(j.queue, j.slots, maxSlots.get(j.queue));
    return reason ? { ...j, reason } : j;
  });
}

export function waitingReason(queue: string, slots: number, maxWorkerSlots: number | undefined): string | undefined {
  if (!maxWorkerSlots) return `no live worker serves queue ${queue}`;
  if (slots > maxWorkerSlots) return `no worker of queue ${queue} has ${slots} slots (the largest has ${maxWorkerSlots})`;
  return undefined;
}
