import { authenticate } from '../auth/authenticate.js';
import type { Store } from '../store/store.js';

/**
 * The one seam through which the web pages decide who may see them: an admin token, checked exactly
 * as the API checks it (stored tokens, revocation). Team tokens see their team's part, through the
 * same in-process API calls that carry the token.
 */
export interface PageAuth {
  /** Whether this token is an admin's. */
  verifyAdmin(token: string): Promise<boolean>;
  /** Whether any token could ever pass (false: the pages show the sign-in form only and explain why). */
  readonly configured: boolean;
}

export function pageAuth(store: Store): PageAuth {
  return {
    // A server always has admin credentials (bootstrapped at start): it never opens without one.
    configured: true,
    async verifyAdmin(token: string) {
      if (!token) return false;
      return (await authenticate(store, token))?.kind === 'admin';
    },
  };
}
