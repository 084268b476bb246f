import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The one seam through which the web pages decide who may see them. Today: the server's admin token
 * (`--admin-token`, `EDGE_ADMIN_TOKEN`); when tokens live in the store, only the body of
 * `pageAuth` changes (an admin Principal from `authenticate(store, token)`).
 */
export interface PageAuth {
  /** Whether this token is an admin's. */
  verifyAdmin(token: string): Promise<boolean>;
  /** Whether any token could ever pass (false: the pages show the sign-in form only and explain why). */
  readonly configured: boolean;
}

/** Compares in constant time (over SHA-256 digests, so lengths leak nothing either). */
export function pageAuth(adminToken: string | undefined): PageAuth {
  const expected = adminToken ? digest(adminToken) : undefined;
  return {
    configured: expected !== undefined,
    async verifyAdmin(token: string) {
      if (!expected || !token) return false;
      return timingSafeEqual(digest(token), expected);
    },
  };
}

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
