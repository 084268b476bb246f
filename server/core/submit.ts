import type { WorkerWaker } from './ports.js';
import type { JobRecord, JobSpecRecord } from '../domain/records.js';
import type { Store } from '../store/store.js';

/**
 * Submits one job. Fast path: an idle connected worker takes the job in the transaction that stores
 * it, and the assignment goes straight down its stream; otherwise the job waits in its queue and the
 * publisher wakes the queue's workers. Jobs that go to their queue are stored together with the
 * others submitted in the same turn of the event loop (SubmitBatcher).
 */
export async function submitOne(store: Store, dispatcher: WorkerWaker, batcher: SubmitBatcher, spec: JobSpecRecord, now: number): Promise<JobRecord> {
  const candidates = dispatcher.candidates(spec.queue);
  if (!candidates.length) return batcher.submit(spec, now);
  const { job, assignment } = await store.submitAndAssign(spec, now, candidates);
  if (assignment) await dispatcher.deliverAssigned(assignment);
  return job;
}

interface Pending {
  spec: JobSpecRecord;
  now: number;
  resolve(job: JobRecord): void;
  reject(err: unknown): void;
}

/**
 * Single submissions that arrive in the same turn of the event loop are stored as one SubmitJobs
 * operation: one multi-row insert instead of one per job (on MySQL each is a round trip, and under
 * load dozens of SubmitJob calls arrive together), each caller answered once the batch committed.
 * They are stored in the order they came, so they are claimed in that order too.
 */
export class SubmitBatcher {
  private pending: Pending[] = [];

  constructor(
    private readonly store: Pick<Store, 'submitJobs'>,
    private readonly maxBatch = 1000,
  ) {}

  submit(spec: JobSpecRecord, now: number): Promise<JobRecord> {
    return new Promise((resolve, reject) => {
      if (!this.pending.length) setImmediate(() => this.flush());
      this.pending.push({ spec, now, resolve, reject });
    });
  }

  private flush(): void {
    while (this.pending.length) {
      const batch = this.pending.splice(0, this.maxBatch);
      const now = batch.reduce((at, p) => Math.max(at, p.now), 0);
      this.store.submitJobs(batch.map((p) => p.spec), now).then(
        (jobs) => batch.forEach((p, i) => p.resolve(jobs[i]!)),
        (err: unknown) => batch.forEach((p) => p.reject(err)),
      );
    }
  }
}
