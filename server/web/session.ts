import { createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Http2ServerRequest } from 'node:http2';

type Request = IncomingMessage | Http2ServerRequest;

/** The cookie holds a random session id, never a token (see page-auth). */
export const COOKIE = 'edge_session';

export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** Whether the request came over TLS (directly, or through a proxy that says so). */
const secure = (req: Request) => Boolean((req.socket as { encrypted?: boolean }).encrypted) || req.headers['x-forwarded-proto'] === 'https';

export function sessionCookie(req: Request, token: string): string {
  return `${COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/${secure(req) ? '; Secure' : ''}`;
}

export function clearedCookie(req: Request): string {
  return `${COOKIE}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0${secure(req) ? '; Secure' : ''}`;
}

/**
 * The CSRF token of a session: an HMAC of a fixed label keyed by the session's secret. A cross-site
 * page can neither read the HttpOnly cookie nor compute this from it; every replica derives the same.
 */
export function csrfToken(sessionSecret: string): string {
  return createHmac('sha256', sessionSecret).update('edge-ui-csrf-v1').digest('base64url');
}

/** A notice's signature, keyed by the session: only the server, for this session, can make it. */
export function noticeSignature(sessionSecret: string, text: string, error: boolean): string {
  return createHmac('sha256', sessionSecret).update(`edge-ui-notice-v1\0${error ? 1 : 0}\0${text}`).digest('base64url');
}

export function noticeMatches(sessionSecret: string, text: string, error: boolean, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(noticeSignature(sessionSecret, text, error));
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

export function csrfMatches(sessionSecret: string, given: string | undefined): boolean {
  if (!given) return false;
  const a = Buffer.from(csrfToken(sessionSecret));
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * Refuses requests a browser marks as coming from another site: `Sec-Fetch-Site` cross-site or
 * same-site, or an `Origin` that is not this host. Requests without either header (curl) pass on to
 * the CSRF token check.
 */
export function crossSite(req: Request): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.headers.origin;
  if (origin && origin !== 'null') {
    const host = req.headers.host ?? (req as Http2ServerRequest).authority;
    try {
      return new URL(origin).host !== host;
    } catch {
      return true;
    }
  }
  return origin === 'null';
}
