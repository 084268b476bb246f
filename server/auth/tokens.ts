import crypto, { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
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

/** A database's HMAC key, and the HMACs of the tokens recently checked against it. */
interface Hashing {
  key: Buffer;
  /** Token HMACs by the token's SHA-256, never by the token itself (a heap snapshot must not hold tokens). */
  recent: Map<string, string>;
}

const hashings = new WeakMap<Store, Promise<Hashing>>();
/** Tokens whose HMAC is remembered at most (a fleet's workers and then some); beyond, the memory starts over. */
const RECENT_HASHES = 50_000;

/**
 * The HMAC key of this database: made by the first replica that needs it and stored with the data, so
 * every replica on one database checks the same tokens. Tokens are stored only as HMAC-SHA256(key, value).
 */
function hashing(store: Store): Promise<Hashing> {
  let h = hashings.get(store);
  if (!h) {
    h = store.sharedSetting('token_hmac_key', () => randomBytes(32).toString('base64url')).then((k) => ({ key: Buffer.from(k, 'utf8'), recent: new Map() }));
    h.catch(() => hashings.delete(store));
    hashings.set(store, h);
  }
  return h;
}

// crypto.hash (one call, no object) is Node 20.12 and later.
const sha256 = typeof crypto.hash === 'function' ? (s: string) => crypto.hash('sha256', s, 'base64') : (s: string) => createHash('sha256').update(s, 'utf8').digest('base64');

/**
 * HMAC-SHA256(key, token). Every call checks its token: a fleet's heartbeats ask for the same few
 * thousand again and again, and an HMAC (a keyed object per call) costs several times a plain hash.
 */
export async function hashToken(store: Store, token: string): Promise<string> {
  const { key, recent } = await hashing(store);
  const id = sha256(token);
  let hmac = recent.get(id);
  if (hmac === undefined) {
    hmac = createHmac('sha256', key).update(token, 'utf8').digest('hex');
    if (recent.size >= RECENT_HASHES) recent.clear();
    recent.set(id, hmac);
  }
  return hmac;
}

export function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
