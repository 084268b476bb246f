import type { TokenRecord } from './credentials.js';

type Found = TokenRecord & { hash: string };

/**
 * Every RPC checks its token; reading it once per call was a query per message, 1,000 a second
 * from a fleet of 10,000 workers. Tokens read from the database are kept for TOKEN_CACHE_MS, and
 * the whole cache is dropped as soon as the revocation mark (a row every revocation rewrites, on
 * any replica) differs from the one it was filled under; the mark is read at most every
 * REVOCATION_CHECK_MS, one primary-key read however many calls come in.
 */
export const TOKEN_CACHE_MS = 60_000;
export const REVOCATION_CHECK_MS = 250;
/** A revoked token stops working on every replica within this (test/security/token-revocation.test.ts). */
export const REVOCATION_BOUND_MS = 750;
const MAX_ENTRIES = 50_000;

/** Tokens found by their hash. Unknown hashes are not kept: a new token works at once everywhere. */
export class TokenCache {
  private readonly entries = new Map<string, { token: Found; until: number }>();
  private mark: string | undefined;
  private checkedAt = -Infinity;
  private checking: Promise<void> | undefined;

  constructor(
    /** Reads the revocation mark. */
    private readonly readMark: () => Promise<string>,
    private readonly clock: () => number = () => performance.now(),
  ) {}

  async find(hash: string, read: (hash: string) => Promise<Found | undefined>): Promise<Found | undefined> {
    const since = this.clock() - this.checkedAt;
    if (since >= REVOCATION_CHECK_MS) {
      const check = (this.checking ??= this.checkMark().finally(() => (this.checking = undefined)));
      // Calls go on from the cache while the mark is read (a busy pool must not hold every call);
      // they wait for it only once the last read is older than the bound a revocation is promised in.
      if (since >= REVOCATION_BOUND_MS) await check;
    }
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

  /**
   * A token this replica just created: its first calls need no read (a worker's registration is
   * followed at once by its stream and first heartbeat). A revocation after it clears it as any other.
   */
  remember(token: Found): void {
    if (this.entries.size >= MAX_ENTRIES) this.entries.clear();
    this.entries.set(token.hash, { token, until: this.clock() + TOKEN_CACHE_MS });
  }

  /** A token was revoked through this replica: nothing cached may outlive it. */
  clear(): void {
    this.entries.clear();
  }

  private async checkMark(): Promise<void> {
    const at = this.clock();
    try {
      const mark = await this.readMark();
      if (mark !== this.mark) this.entries.clear();
      this.mark = mark;
      this.checkedAt = at;
    } catch (err) {
      // Unsure what was revoked: trust nothing cached, and let the token's own read report the outage.
      this.entries.clear();
      this.mark = undefined;
    }
  }
}
