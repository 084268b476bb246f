import type { TokenRecord } from './credentials.js';

type Found = TokenRecord & { hash: string };

/**
 * How long a token read from the database is trusted without reading it again. Every RPC checks its
 * token; reading it once per call was a query per message. A token revoked through another replica
 * stops working here once its entry is this old (revocations through this replica clear the cache).
 */
export const TOKEN_CACHE_MS = 500;
const MAX_ENTRIES = 50_000;

/** Tokens found by their hash, kept for TOKEN_CACHE_MS. Unknown hashes are not kept: a new token works at once everywhere. */
export class TokenCache {
  private readonly entries = new Map<string, { token: Found; until: number }>();

  constructor(private readonly clock: () => number = () => performance.now()) {}

  async find(hash: string, read: (hash: string) => Promise<Found | undefined>): Promise<Found | undefined> {
    const now = this.clock();
    const hit = this.entries.get(hash);
    if (hit && hit.until > now) return hit.token;
    const token = await read(hash);
    if (token) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
      this.entries.set(hash, { token, until: now + TOKEN_CACHE_MS });
    } else this.entries.delete(hash);
    return token;
  }

  /** A token was revoked through this replica: nothing cached may outlive it. */
  clear(): void {
    this.entries.clear();
  }
}
