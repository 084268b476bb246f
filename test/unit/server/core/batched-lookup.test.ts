import assert from 'node:assert/strict';
import { BatchedLookup } from '../../../../server/core/batched-lookup.js';

describe('BatchedLookup', () => {
  function recorder(fail?: (keys: string[]) => boolean) {
    const batches: string[][] = [];
    let release: () => void = () => {};
    const lookup = new BatchedLookup<string, string>(async (keys) => {
      batches.push(keys);
      await new Promise<void>((r) => (release = r));
      if (fail?.(keys)) throw new Error('store down');
      return new Map(keys.filter((k) => k !== 'missing').map((k) => [k, k.toUpperCase()]));
    }, 3);
    return { lookup, batches, release: () => release() };
  }

  it('reads the first key at once and the keys asked meanwhile together, a batch at a time', async () => {
    const { lookup, batches, release } = recorder();
    const a = lookup.get('a');
    await Promise.resolve();
    assert.deepEqual(batches, [['a']]);
    const rest = ['b', 'c', 'missing', 'd', 'b'].map((k) => lookup.get(k));
    release();
    assert.equal(await a, 'A');
    await new Promise((r) => setImmediate(r));
    // At most 3 keys a batch, each key once: the second 'b' is answered by the same read.
    assert.deepEqual(batches, [['a'], ['b', 'c', 'missing']]);
    release();
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(batches, [['a'], ['b', 'c', 'missing'], ['d']]);
    release();
    assert.deepEqual(await Promise.all(rest), ['B', 'C', undefined, 'D', 'B']);
  });

  it('fails only the callers of a failed batch and goes on with the next', async () => {
    const { lookup, batches, release } = recorder((keys) => keys.includes('x'));
    const x = lookup.get('x');
    const y = lookup.get('y');
    release();
    await assert.rejects(x, /store down/);
    await new Promise((r) => setImmediate(r));
    release();
    assert.equal(await y, 'Y');
    assert.deepEqual(batches, [['x'], ['y']]);
    // Idle again: the next key is read at once.
    const z = lookup.get('z');
    await Promise.resolve();
    assert.deepEqual(batches.at(-1), ['z']);
    release();
    assert.equal(await z, 'Z');
  });
});
