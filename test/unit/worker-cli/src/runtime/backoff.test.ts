import assert from 'node:assert/strict';
import { Backoff, sleep } from '../../../../../worker-cli/src/runtime/backoff.js';

/** Runs `fn` with Math.random returning `value`, so the jitter's bounds can be checked exactly. */
function withRandom<T>(value: number, fn: () => T): T {
  const real = Math.random;
  Math.random = () => value;
  try {
    return fn();
  } finally {
    Math.random = real;
  }
}

describe('Backoff: jittered exponential waits', () => {
  it('doubles from the base to the ceiling, each wait drawn in [d/2, d]', () => {
    const b = new Backoff(100, 1000);
    const upper = withRandom(0.999999, () => [1, 2, 3, 4, 5, 6].map(() => Math.round(b.next())));
    assert.deepEqual(upper, [100, 200, 400, 800, 1000, 1000]);
    const low = new Backoff(100, 1000);
    assert.deepEqual(withRandom(0, () => [1, 2, 3, 4, 5].map(() => low.next())), [50, 100, 200, 400, 500]);
  });

  it('starts again from the base after reset()', () => {
    const b = new Backoff(100, 10_000);
    withRandom(0, () => {
      b.next();
      b.next();
      b.next();
      assert.equal(b.next(), 400);
      b.reset();
      assert.equal(b.next(), 50);
    });
  });

  it('stays at the ceiling however many failures come (no overflow to Infinity or NaN)', () => {
    const b = new Backoff(200, 10_000);
    let last = 0;
    for (let i = 0; i < 2000; i++) last = b.next();
    assert.ok(Number.isFinite(last) && last >= 5_000 && last <= 10_000, String(last));
  });

  it('jitters: two workers failing together do not wait the same time', () => {
    const waits = new Set(Array.from({ length: 20 }, () => new Backoff(1000, 1000).next()));
    assert.ok(waits.size > 1);
  });
});

describe('sleep: a wait that an abort ends early', () => {
  it('waits about the time asked', async () => {
    const t0 = Date.now();
    await sleep(30);
    assert.ok(Date.now() - t0 >= 25);
  });

  it('returns at once when the signal aborts, or was aborted before', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const p = sleep(10_000, ac.signal);
    setTimeout(() => ac.abort(), 10);
    await p;
    assert.ok(Date.now() - t0 < 1000);
    const t1 = Date.now();
    await sleep(10_000, ac.signal);
    assert.ok(Date.now() - t1 < 100);
  });
});
