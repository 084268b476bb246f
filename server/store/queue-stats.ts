import { liveWorkers } from './workers.js';
import { JOB_STATES, type JobStateName, type QueueStatsRecord } from '../domain/records.js';
import { queueCapacities } from '../domain/fit.js';
import type { StoreDb } from './dialect.js';

/** Counts per queue with what its live workers offer, for QueueStats and the web pages. */

export async function queueStats(db: StoreDb): Promise<QueueStatsRecord[]> {
  const counts = (await db.knex('jobs')
    .select('queue', 'state')
    .count({ n: '*' })
    .min({ oldest: 'created_at' })
    .groupBy('queue', 'state')) as Record<string, unknown>[];
  const live = await liveWorkers(db);
  const stats = new Map<string, QueueStatsRecord>();
  const entry = (queue: string): QueueStatsRecord => {
    let s = stats.get(queue);
    if (!s) {
      s = {
        queue,
        counts: Object.fromEntries(JOB_STATES.map((st) => [st, 0])) as Record<JobStateName, number>,
        oldestQueuedAt: null,
        workers: 0,
        freeSlots: 0,
        maxWorkerSlots: 0,
        unplaceable: [],
        unplaceableCount: 0,
      };
      stats.set(queue, s);
    }
    return s;
  };
  for (const r of counts) {
    const s = entry(String(r.queue));
    s.counts[r.state as JobStateName] = Number(r.n);
    if (r.state === 'QUEUED') s.oldestQueuedAt = Number(r.oldest);
  }
  for (const [q, capacity] of queueCapacities(live)) Object.assign(entry(q), capacity);
  for (const s of stats.values()) {
    if (!s.counts.QUEUED) continue;
    const base = () => db.knex('jobs').where({ state: 'QUEUED', queue: s.queue }).where('slots', '>', s.maxWorkerSlots);
    const [{ n }] = (await base().count({ n: '*' })) as [{ n: number | string }];
    s.unplaceableCount = Number(n);
    if (s.unplaceableCount) {
      const rows = await base().select('id', 'slots').orderBy('id').limit(100);
      s.unplaceable = rows.map((r) => ({ jobId: String(r.id), slots: Number(r.slots) }));
    }
  }
  return [...stats.values()].sort((a, b) => (a.queue < b.queue ? -1 : a.queue > b.queue ? 1 : 0));
}
