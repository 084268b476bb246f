import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { generateToken, hashToken } from '../../../../server/auth/tokens.js';
import type { Store } from '../../../../server/store/store.js';

/** A store with only the shared setting that holds the HMAC key. */
function keyStore(key: string): Store {
  return { sharedSetting: async () => key } as unknown as Store;
}

describe('hashToken', () => {
  it("is the HMAC-SHA256 of the token under its database's key, the first time and every time after", async () => {
    const a = keyStore('key-a');
    const b = keyStore('key-b');
    const token = generateToken('worker');
    const expected = (key: string) => createHmac('sha256', key).update(token, 'utf8').digest('hex');
    for (let i = 0; i < 3; i++) {
      assert.equal(await hashToken(a, token), expected('key-a'));
      assert.equal(await hashToken(b, token), expected('key-b'), 'another database, another key: nothing remembered is shared');
    }
    const other = generateToken('worker');
    assert.equal(await hashToken(a, other), createHmac('sha256', 'key-a').update(other, 'utf8').digest('hex'));
  });
});
