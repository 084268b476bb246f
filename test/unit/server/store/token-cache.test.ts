import assert from 'node:assert/strict';
import { TOKEN_CACHE_MS, TokenCache } from '../../../../server/store/token-cache.js';

const token = (hash: string, revokedAt: number | null = null) => ({ id: 't1', kind: 'admin' as const, name: 'n', team: '', workerName: null, createdAt: 0, revokedAt, hash });

describe('TokenCache: tokens read once per period, never kept past a revocation', () => {
  it('answers from memory within the period and reads again after it', async () => {
    let now = 0;
    const cache = new TokenCache(() => now);
    let reads = 0;
    let stored = token('h');
    const read = async () => {
      reads++;
      return stored;
    };
    assert.equal((await cache.find('h', read))?.revokedAt, null);
    now = TOKEN_CACHE_MS - 1;
    await cache.find('h', read);
    assert.equal(reads, 1);
    stored = token('h', 5);
    now = TOKEN_CACHE_MS;
    assert.equal((await cache.find('h', read))?.revokedAt, 5, 'a revocation made elsewhere is seen once the entry is old');
    assert.equal(reads, 2);
  });

  it('keeps no unknown hash (a new token works at once) and forgets everything on clear()', async () => {
    const cache = new TokenCache(() => 0);
    let stored: ReturnType<typeof token> | undefined;
    let reads = 0;
    const read = async () => {
      reads++;
      return stored;
    };
    assert.equal(await cache.find('h', read), undefined);
    stored = token('h');
    assert.ok(await cache.find('h', read));
    cache.clear();
    stored = token('h', 1);
    assert.equal((await cache.find('h', read))?.revokedAt, 1);
    assert.equal(reads, 3);
  });
});
