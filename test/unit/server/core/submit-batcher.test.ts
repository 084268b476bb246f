import assert from 'node:assert/strict';
import { SubmitBatcher } from '../../../../server/core/submit.js';
import type { JobRecord, JobSpecRecord } from '../../../../server/domain/records.js';

/** A store that records each SubmitJobs call and answers with a job per spec. */
function fakeStore(fail?: Error) {
  const calls: { queues: string[]; now: number }[] = [];
  return {
    calls,
    async submitJobs(specs: JobSpecRecord[], now: number): Promise<JobRecord[]> {
      calls.push({ queues: specs.map((s) => s.queue), now });
      if (fail) throw fail;
      return specs.map((s, i) => ({ id: `${s.queue}-${i}`, queue: s.queue, createdAt: now }) as JobRecord);
    },
  };
}
const spec = (queue: string) => ({ queue }) as JobSpecRecord;

describe('SubmitBatcher: single submissions of one turn stored as one SubmitJobs operation', () => {
  it('stores the submissions of one turn together, in the order they came, each caller getting its own job', async () => {
    const store = fakeStore();
    const batcher = new SubmitBatcher(store);
    const jobs = await Promise.all([batcher.submit(spec('a'), 10), batcher.submit(spec('b'), 12), batcher.submit(spec('c'), 11)]);
    assert.deepEqual(store.calls, [{ queues: ['a', 'b', 'c'], now: 12 }]);
    assert.deepEqual(jobs.map((j) => j.id), ['a-0', 'b-1', 'c-2']);
    // A later turn is a batch of its own.
    await batcher.submit(spec('d'), 20);
    assert.deepEqual(store.calls[1], { queues: ['d'], now: 20 });
  });

  it('splits a turn into batches of at most maxBatch', async () => {
    const store = fakeStore();
    const batcher = new SubmitBatcher(store, 2);
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((q) => batcher.submit(spec(q), 1)));
    assert.deepEqual(store.calls.map((c) => c.queues), [['a', 'b'], ['c', 'd'], ['e']]);
  });

  it('gives every caller of a batch the store’s error', async () => {
    const batcher = new SubmitBatcher(fakeStore(new Error('the server is busy')));
    const results = await Promise.allSettled([batcher.submit(spec('a'), 1), batcher.submit(spec('b'), 1)]);
    assert.deepEqual(results.map((r) => r.status === 'rejected' && (r.reason as Error).message), ['the server is busy', 'the server is busy']);
  });
});
