import type { Store } from '../store/store.js';
import { MAX_TOKEN_CHARS, hashToken, sameHash } from './tokens.js';

/**
 * Who is calling, from the credential alone (never from a request field). `team` is set for
 * credentials of a team: they see and touch only that team's jobs, workers and tokens.
 */
export type Principal =
  /** A scheduler or operator: JobService, log reads, operator calls, TokenService. */
  | { kind: 'admin'; tokenId: string; team?: string }
  /** A worker, acting only as itself. */
  | { kind: 'worker'; tokenId: string; workerName: string; team?: string }
  /** A registration secret: RegisterWorker only, to obtain a worker token. */
  | { kind: 'registration'; tokenId: string; team?: string };

/**
 * Resolves a token (the value after `Bearer `) to the principal it stands for; undefined when it is
 * unknown, revoked or malformed. The web pages check an admin cookie with this same function.
 */
export async function authenticate(store: Store, token: string): Promise<Principal | undefined> {
  if (!token || token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  const hash = await hashToken(store, token);
  const found = await store.findToken(hash);
  if (!found || !sameHash(found.hash, hash) || found.revokedAt !== null) return undefined;
  const team = found.team || undefined;
  switch (found.kind) {
    case 'admin':
      return { kind: 'admin', tokenId: found.id, team };
    case 'worker':
      return found.workerName ? { kind: 'worker', tokenId: found.id, workerName: found.workerName, team } : undefined;
    case 'registration':
      return { kind: 'registration', tokenId: found.id, team };
    default:
      return undefined;
  }
}

/** The token of an `authorization: Bearer …` header value, or undefined. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
  return m?.[1];
}
