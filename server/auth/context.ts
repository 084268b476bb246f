import { Code, ConnectError, createContextKey, type HandlerContext } from '@connectrpc/connect';
import type { Principal } from './authenticate.js';

/** The caller, as the auth interceptor resolved it; handlers read it with `principalOf(ctx)`. */
export const kPrincipal = createContextKey<Principal | undefined>(undefined, { description: 'the authenticated caller' });

export function principalOf(ctx: HandlerContext): Principal {
  const p = ctx.values.get(kPrincipal);
  // The interceptor lets no edge RPC through without one: this is a wiring error, never a client's.
  if (!p) throw new ConnectError('unauthenticated', Code.Unauthenticated);
  return p;
}

/** The team a principal is limited to ('' when it has none). */
export const teamOf = (p: Principal): string => p.team ?? '';

/** Whether a principal may see something of this team: principals of no team see every team. */
export const seesTeam = (p: Principal, team: string): boolean => p.team === undefined || p.team === team;

/** A worker principal may act only as its own worker. */
export function requireSelf(p: Principal, workerName: string, field: string): void {
  if (p.kind === 'worker' && p.workerName !== workerName) {
    throw new ConnectError(`${field}: this token belongs to worker ${p.workerName}, not ${workerName}`, Code.PermissionDenied);
  }
}
