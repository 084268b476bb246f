import assert from 'node:assert/strict';
import { age, mib } from '../../../shared/units.js';
import { drainPages } from '../../../shared/paging.js';

describe('shared formatting and paging', () => {
  it('writes sizes in MiB or GiB', () => {
    assert.equal(mib(512), '512 MiB');
    assert.equal(mib(1536), '1.5 GiB');
    assert.equal(mib(20480), '20 GiB');
  });

  it('writes ages in words, or compact for tables', () => {
    const now = 1_000_000_000;
    assert.equal(age(undefined, now), '');
    assert.equal(age(now - 3_000, now), '3 s');
    assert.equal(age(now - 3_000, now, true), '3s');
    assert.equal(age(now - 240_000, now), '4 min');
    assert.equal(age(now - 240_000, now, true), '4m');
    assert.equal(age(now - 2 * 3_600_000, now), '2 h');
    assert.equal(age(now - 5 * 86_400_000, now, true), '5d');
    assert.equal(age(now + 5_000, now), '0 s', 'a clock ahead is no negative age');
  });

  it('drains pages until the last, or until the limit is in', async () => {
    const pages: Record<string, { items: number[]; next: string }> = { '': { items: [1, 2], next: 'b' }, b: { items: [3, 4], next: 'c' }, c: { items: [5], next: '' } };
    const asked: [string, number][] = [];
    const fetch = async (token: string, want: number) => (asked.push([token, want]), pages[token]!);
    assert.deepEqual(await drainPages(fetch), [1, 2, 3, 4, 5]);
    asked.length = 0;
    assert.deepEqual(await drainPages(fetch, 3), [1, 2, 3, 4]);
    assert.deepEqual(asked, [['', 3], ['b', 1]]);
  });
});
