import assert from 'node:assert/strict';
import { rate, warmUp, warmedUp } from '../../bench/lib/warm-up.js';

/** The bench's warm-up: rounds of a configuration's own workload before it is measured, the first of each mode kept as the cold figure. */
describe('bench warm-up', () => {
  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('runs nothing at 0 ms: the figures are then those of a cold start', async () => {
    let calls = 0;
    const w = await warmUp(0, ['single'], async () => (calls++, { jobs: 10, jobsPerSecond: 1 }));
    assert.equal(calls, 0);
    assert.deepEqual(w, { rounds: 0, jobs: 0, cold: {} });
    assert.deepEqual(warmedUp(w, 'single'), { warmUpRounds: 0, warmUpJobs: 0 });
  });

  it('runs one round at least, however short the time', async () => {
    const w = await warmUp(1, ['single'], async () => (await sleep(5), { jobs: 10, jobsPerSecond: 7 }));
    assert.equal(w.rounds, 1);
    assert.deepEqual(w.cold, { single: 7 });
  });

  it('takes the modes in turn until the time is up, and keeps the first round of each mode as its cold figure', async () => {
    const seen: string[] = [];
    let n = 0;
    const w = await warmUp(60, ['single', 'batch'] as const, async (mode) => {
      seen.push(mode);
      await sleep(10);
      return { jobs: 5, jobsPerSecond: 100 + n++ };
    });
    assert.ok(w.rounds >= 4, `${w.rounds} rounds in 60 ms of 10 ms rounds`);
    assert.equal(w.jobs, 5 * w.rounds);
    seen.forEach((mode, i) => assert.equal(mode, i % 2 ? 'batch' : 'single'));
    assert.deepEqual(w.cold, { single: 100, batch: 101 });
    assert.deepEqual(warmedUp(w, 'batch'), { coldJobsPerSecond: 101, warmUpRounds: w.rounds, warmUpJobs: w.jobs });
  });

  it('gives jobs per second to a tenth', () => {
    assert.equal(rate(1000, 0, 3000), 333.3);
    assert.ok(Number.isFinite(rate(5, 10, 10)), 'a round that took no time gives no infinite rate');
  });
});
