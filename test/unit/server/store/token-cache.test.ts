import assert from 'node:assert/strict';
import { REVOCATION_BOUND_MS, REVOCATION_CHECK_MS, TOKEN_CACHE_MS, TokenCache } from '../../../../server/store/token-cache.js';

const token = (hash: string, revokedAt: number | null = null) => ({ id: 't1', kind: 'admin' as const, name: 'n', team: '', workerName: null, createdAt: 0, revokedAt, hash });

describe('TokenCache: tokens read once per period, never kept past a revocation', () => {
  let now: number;
  let mark: string;
  let markReads: number;
  let stored: ReturnType<typeof token> | undefined;
  let reads: number;
  const read = async () => {
    reads++;
    return stored;
  };
  const cacheOf = () =>
    new TokenCache(
      async () => {
        markReads++;
        return mark;
      },
      () => now,
    );
  beforeEach(() => {
    now = 0;
    mark = 'm1';
    markReads = 0;
    stored = token('h');
    reads = 0;
  });

  it('knows a token this replica created without reading it, until a revocation elsewhere', async () => {
    const cache = cacheOf();
    await cache.find('other', read); // the mark as of now
    cache.remember(token('new'));
    assert.equal((await cache.find('new', read))?.hash, 'new');
    assert.equal(reads, 1, 'only the first find read the store');
    mark = 'm2';
    now = REVOCATION_BOUND_MS;
    stored = token('new', 7);
    assert.equal((await cache.find('new', read))?.revokedAt, 7, 'a changed mark drops it too');
  });

  it('answers from memory within the period and reads again after it', async () => {
    const cache = cacheOf();
    assert.equal((await cache.find('h', read))?.revokedAt, null);
    now = TOKEN_CACHE_MS - 1;
    await cache.find('h', read);
    assert.equal(reads, 1);
    now = TOKEN_CACHE_MS;
    stored = token('h', 5);
    assert.equal((await cache.find('h', read))?.revokedAt, 5, 'an entry is never older than the period');
    assert.equal(reads, 2);
  });

  it('drops everything once the revocation mark changed, reading the mark at most every check period', async () => {
    const cache = cacheOf();
    await cache.find('h', read);
    for (let i = 0; i < 10; i++) await cache.find('h', read);
    assert.equal(markReads, 1, 'the mark is read once per check period, not per call');
    stored = token('h', 7);
    mark = 'm2';
    now = REVOCATION_CHECK_MS - 1;
    assert.equal((await cache.find('h', read))?.revokedAt, null, 'within the check period the cache answers');
    now = REVOCATION_CHECK_MS;
    assert.equal((await cache.find('h', read))?.revokedAt, null, 'the call does not wait for the check it starts');
    await new Promise((r) => setImmediate(r));
    assert.equal((await cache.find('h', read))?.revokedAt, 7, 'a revocation made through any replica is seen once the check has read it');
    assert.equal(markReads, 2);
    assert.equal(reads, 2);
    stored = token('h', 8);
    mark = 'm3';
    now = REVOCATION_CHECK_MS + REVOCATION_BOUND_MS;
    assert.equal((await cache.find('h', read))?.revokedAt, 8, 'past the bound, a call waits for the check');
  });

  it('trusts nothing cached when the mark cannot be read', async () => {
    let failing = false;
    const cache = new TokenCache(
      async () => {
        if (failing) throw new Error('database down');
        return mark;
      },
      () => now,
    );
    await cache.find('h', read);
    failing = true;
    now = REVOCATION_BOUND_MS;
    stored = token('h', 9);
    assert.equal((await cache.find('h', read))?.revokedAt, 9);
  });

  it('keeps no unknown hash (a new token works at once) and forgets everything on clear()', async () => {
    const cache = cacheOf();
    stored = undefined;
    assert.equal(await cache.find('h', read), undefined);
    stored = token('h');
    assert.ok(await cache.find('h', read));
    cache.clear();
    stored = token('h', 1);
    assert.equal((await cache.find('h', read))?.revokedAt, 1);
    assert.equal(reads, 3);
  });
});
