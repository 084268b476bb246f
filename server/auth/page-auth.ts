import { randomBytes } from 'node:crypto';
import { authenticate, type Principal } from './authenticate.js';
import { hashToken, sameHash } from './tokens.js';
import type { Store } from '../store/store.js';

/** How long a web session lasts after sign-in. */
export const SESSION_MS = 12 * 3600_000;

/**
 * The one seam through which the web pages decide who may see them. Signing in with an admin token
 * (checked exactly as the API checks it) starts a session: a random id for the browser's cookie,
 * stored only as a keyed hash beside the hash of the token, so the cookie never holds the token.
 * Every page request resolves the session to the token's principal again, so revoking the token
 * ends its sessions; signing out revokes the session itself.
 */
export interface PageAuth {
  /** A new session id for an admin token, or undefined when the token is not an admin's. */
  signIn(token: string): Promise<string | undefined>;
  /** The admin behind a session id, or undefined when it is unknown, expired, revoked or its token is. */
  principal(sessionId: string): Promise<Principal | undefined>;
  signOut(sessionId: string): Promise<void>;
}

const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export function pageAuth(store: Store, now: () => number = Date.now): PageAuth {
  return {
    async signIn(token) {
      if (!token) return undefined;
      const principal = await authenticate(store, token);
      if (principal?.kind !== 'admin') return undefined;
      const id = randomBytes(32).toString('base64url');
      const at = now();
      await store.createWebSession({ hash: await hashToken(store, id), tokenHash: await hashToken(store, token), expiresAt: at + SESSION_MS }, at);
      return id;
    },
    async principal(sessionId) {
      if (!SESSION_ID.test(sessionId)) return undefined;
      const hash = await hashToken(store, sessionId);
      const session = await store.findWebSession(hash);
      if (!session || !sameHash(session.hash, hash) || session.revokedAt !== null || session.expiresAt <= now()) return undefined;
      const token = await store.findToken(session.tokenHash);
      if (!token || token.revokedAt !== null || token.kind !== 'admin') return undefined;
      return { kind: 'admin', tokenId: token.id, team: token.team || undefined };
    },
    async signOut(sessionId) {
      if (!SESSION_ID.test(sessionId)) return;
      await store.revokeWebSession(await hashToken(store, sessionId), now());
    },
  };
}
