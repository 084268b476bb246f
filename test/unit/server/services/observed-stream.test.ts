import assert from 'node:assert/strict';
import { ObservedStream, type StreamHooks } from '../../../../server/services/observed-stream.js';

/** What the hooks saw, and a hook set that records it (errors are wrapped to show they went through). */
function recorder() {
  const seen = { done: 0, errors: [] as unknown[] };
  const hooks: StreamHooks<string> = {
    done: (call) => void (assert.equal(call, 'call'), seen.done++),
    error: (err, call) => (assert.equal(call, 'call'), seen.errors.push(err), new Error(`mapped: ${(err as Error).message}`)),
  };
  return { seen, hooks };
}

describe('ObservedStream: an interceptor\'s view of a response stream, as yield* gives it', () => {
  it('passes every message on, and calls done once when the stream ends by itself', async () => {
    const { seen, hooks } = recorder();
    const s = new ObservedStream(
      (async function* () {
        yield 1;
        yield 2;
      })(),
      hooks,
      'call',
    );
    const got: number[] = [];
    for await (const n of s) got.push(n);
    assert.deepEqual(got, [1, 2]);
    assert.equal(seen.done, 1);
    assert.deepEqual(await s.next(), { value: undefined, done: true });
    assert.equal(seen.done, 1);
  });

  it('maps an error of the stream through the error hook, and does not call done', async () => {
    const { seen, hooks } = recorder();
    const s = new ObservedStream(
      (async function* () {
        yield 1;
        throw new Error('broken');
      })(),
      hooks,
      'call',
    );
    const got: number[] = [];
    await assert.rejects(
      (async () => {
        for await (const n of s) got.push(n);
      })(),
      /mapped: broken/,
    );
    assert.deepEqual(got, [1]);
    assert.equal(seen.done, 0);
    assert.equal(seen.errors.length, 1);
  });

  it('forwards an early return to the source (its finally runs) without calling done', async () => {
    const { seen, hooks } = recorder();
    let cleaned = false;
    const s = new ObservedStream(
      (async function* () {
        try {
          yield 1;
          yield 2;
        } finally {
          cleaned = true;
        }
      })(),
      hooks,
      'call',
    );
    for await (const n of s) if (n === 1) break;
    assert.equal(cleaned, true);
    assert.equal(seen.done, 0);
    assert.equal(seen.errors.length, 0);
  });

  it('forwards throw to the source, mapping what comes out', async () => {
    const { seen, hooks } = recorder();
    const s = new ObservedStream(
      (async function* () {
        yield 1;
      })(),
      hooks,
      'call',
    );
    await s.next();
    await assert.rejects(s.throw(new Error('from the reader')), /mapped: from the reader/);
    assert.equal(seen.errors.length, 1);
  });
});
