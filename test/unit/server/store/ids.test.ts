import assert from 'node:assert/strict';
import { validate, version } from 'uuid';
import { newId } from '../../../../server/store/ids.js';

describe('job ids', () => {
  it('are valid UUIDv7s, unique, and sort in the order they were made, within a millisecond and across', async () => {
    const ids: string[] = [];
    for (let round = 0; round < 5; round++) {
      // Far more than one pool of random bytes (256 ids), most of them in the same millisecond.
      for (let i = 0; i < 3000; i++) ids.push(newId());
      await new Promise((r) => setTimeout(r, 2));
    }
    for (const id of ids) assert.ok(validate(id) && version(id) === 7, id);
    assert.equal(new Set(ids).size, ids.length);
    assert.deepEqual([...ids].sort(), ids);
    // The time part is the clock's.
    const ms = parseInt(ids.at(-1)!.replace(/-/g, '').slice(0, 12), 16);
    assert.ok(Math.abs(ms - Date.now()) < 1000, `time part ${ms}`);
  });
});
