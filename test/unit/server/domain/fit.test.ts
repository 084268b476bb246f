import assert from 'node:assert/strict';
import {
  claimOrder,
  fitProblem,
  pickClaims,
  queueCapacities,
  unplaceable,
  waitingReason,
  type WorkerCapacity,
} from '../../../../server/domain/fit.js';

const worker = (w: Partial<WorkerCapacity> = {}): WorkerCapacity => ({ state: 'IDLE', queues: ['q'], team: '', concurrency: 4, usedSlots: 0, ...w });
const job = (id: string, slots = 1, priority = 0, createdAt = 0) => ({ id, slots, priority, createdAt });

describe('the fit rule: which job a worker takes, and why a job waits', () => {
  it('fits a job to a worker of its queue and team with the free slots, and names the first thing that does not fit', () => {
    assert.equal(fitProblem({ queue: 'q', slots: 2 }, worker({ usedSlots: 2 })), undefined);
    assert.equal(fitProblem({ queue: 'q', slots: 1 }, worker({ state: 'MAINTENANCE_MODE' })), 'not-accepting');
    assert.equal(fitProblem({ queue: 'q', slots: 1 }, worker({ state: 'OFFLINE' })), 'not-accepting');
    assert.equal(fitProblem({ queue: 'other', slots: 1 }, worker()), 'queue');
    assert.equal(fitProblem({ queue: 'q', slots: 1, team: 'red' }, worker()), 'team', 'a job of a team never goes to a worker of none');
    assert.equal(fitProblem({ queue: 'q', slots: 1 }, worker({ team: 'red' })), 'team', 'nor a job of no team to a team worker');
    assert.equal(fitProblem({ queue: 'q', slots: 1, team: 'red' }, worker({ team: 'red' })), undefined);
    assert.equal(fitProblem({ queue: 'q', slots: 5 }, worker()), 'too-big');
    assert.equal(fitProblem({ queue: 'q', slots: 3 }, worker({ usedSlots: 2 })), 'busy');
  });

  it('orders claims by priority, then by id (oldest first)', () => {
    const sorted = [job('b', 1, 0), job('c', 1, 5), job('a', 1, 0)].sort(claimOrder).map((j) => j.id);
    assert.deepEqual(sorted, ['c', 'a', 'b']);
  });

  it('takes what fits the free slots, up to maxJobs, letting small jobs pass a head that does not fit yet', () => {
    const rows = [job('big', 3), job('s1', 1), job('s2', 1), job('s3', 1)];
    assert.deepEqual(pickClaims(rows, { free: 2, maxJobs: 10, now: 100, reserveAfterMs: Infinity }).map((j) => j.id), ['s1', 's2']);
    assert.deepEqual(pickClaims(rows, { free: 4, maxJobs: 10, now: 100, reserveAfterMs: Infinity }).map((j) => j.id), ['big', 's1']);
    assert.deepEqual(pickClaims(rows, { free: 10, maxJobs: 2, now: 100, reserveAfterMs: Infinity }).map((j) => j.id), ['big', 's1']);
    assert.deepEqual(pickClaims(rows, { free: 0, maxJobs: 10, now: 100, reserveAfterMs: Infinity }), []);
  });

  it('reserves the slots for a head job that has waited long enough: nothing behind it jumps ahead', () => {
    const rows = [job('s0', 1), job('big', 3, 0, 0), job('s1', 1)];
    assert.deepEqual(pickClaims(rows, { free: 2, maxJobs: 10, now: 1000, reserveAfterMs: 500 }).map((j) => j.id), ['s0']);
    assert.deepEqual(pickClaims(rows, { free: 2, maxJobs: 10, now: 400, reserveAfterMs: 500 }).map((j) => j.id), ['s0', 's1'], 'not yet waited long enough');
  });

  it('sums the capacity of each queue over its live workers; only accepting workers offer free slots', () => {
    const caps = queueCapacities([
      worker({ queues: ['a', 'b'], concurrency: 4, usedSlots: 1 }),
      worker({ queues: ['a'], concurrency: 8, usedSlots: 8 }),
      worker({ queues: ['b'], concurrency: 16, state: 'MAINTENANCE_MODE' }),
    ]);
    assert.deepEqual(caps.get('a'), { workers: 2, freeSlots: 3, maxWorkerSlots: 8 });
    assert.deepEqual(caps.get('b'), { workers: 2, freeSlots: 3, maxWorkerSlots: 16 });
    assert.equal(caps.get('c'), undefined);
    assert.equal(unplaceable(9, caps.get('a')), true);
    assert.equal(unplaceable(8, caps.get('a')), false);
    assert.equal(unplaceable(1, caps.get('c')), true);
  });

  it('says why a job waits when no live worker could ever take it, and nothing when one could', () => {
    assert.equal(waitingReason('q', 1, undefined), 'no live worker serves queue q');
    assert.equal(waitingReason('q', 4, { maxWorkerSlots: 2 }), 'no worker of queue q has 4 slots (the largest has 2)');
    assert.equal(waitingReason('q', 2, { maxWorkerSlots: 2 }), undefined);
  });
});
