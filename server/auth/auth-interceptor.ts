import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import type { Store } from '../store/store.js';
import { authenticate, bearerToken, type Principal } from './authenticate.js';
import { kPrincipal } from './context.js';
import { accessOf } from './rules.js';

/**
 * Authenticates every call of the edge services from `authorization: Bearer …` and checks the RPC
 * table; health and reflection stay open. The principal goes to the handlers as a context value.
 * Messages never repeat the token.
 */
const CREDENTIAL_NAMES = { admin: 'an admin token', worker: 'a worker token', registration: 'a registration secret' } as const;

export function authInterceptor(store: Store): Interceptor {
  return principalInterceptor(async (req) => {
    const token = bearerToken(req.header.get('authorization'));
    if (!token) throw new ConnectError('missing credentials: send authorization: Bearer <token>', Code.Unauthenticated);
    const principal = await authenticate(store, token);
    if (!principal) throw new ConnectError('invalid or revoked token', Code.Unauthenticated);
    return principal;
  });
}

/**
 * Checks the RPC table for the principal `resolve` finds (it throws Unauthenticated when there is
 * none): the API resolves bearer tokens, the web pages their signed-in session.
 */
export function principalInterceptor(resolve: (req: Parameters<Parameters<Interceptor>[0]>[0]) => Promise<Principal>): Interceptor {
  return (next) => async (req) => {
    const access = accessOf(req.service.typeName, req.method.name);
    if (access.open) return next(req);
    const principal = await resolve(req);
    if (!access.kinds.includes(principal.kind)) {
      throw new ConnectError(`${CREDENTIAL_NAMES[principal.kind]} may not call ${req.method.name}`, Code.PermissionDenied);
    }
    req.contextValues.set(kPrincipal, principal);
    return next(req);
  };
}
