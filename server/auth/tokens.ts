import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Store } from '../store/store.js';
import type { TokenKindName } from '../store/credentials.js';

/** Prefixes make a leaked token recognizable (secret scanners, logs) and tell its kind at a glance. */
export const TOKEN_PREFIXES: Record<TokenKindName, string> = {
  admin: 'edge_admin_',
  worker: 'edge_worker_',
  registration: 'edge_reg_',
};

/** A token's value: its kind's prefix and 32 random bytes, base64url. */
export function generateToken(kind: TokenKindName): string {
  return TOKEN_PREFIXES[kind] + randomBytes(32).toString('base64url');
}

/** Longest token value we look at; anything longer is no token of ours. */
export const MAX_TOKEN_CHARS = 256;

const keys = new WeakMap<Store, Promise<Buffer>>();

/**
 * The HMAC key of this database: made by the first replica that needs it and stored with the data, so
 * every replica on one database checks the same tokens. Tokens are stored only as HMAC-SHA256(key, value).
 */
function hashKey(store: Store): Promise<Buffer> {
  let key = keys.get(store);
  if (!key) {
    key = store.sharedSetting('token_hmac_key', () => randomBytes(32).toString('base64url')).then((k) => Buffer.from(k, 'utf8'));
    key.catch(() => keys.delete(store));
    keys.set(store, key);
  }
  return key;
}

export async function hashToken(store: Store, token: string): Promise<string> {
  return createHmac('sha256', await hashKey(store)).update(token, 'utf8').digest('hex');
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
