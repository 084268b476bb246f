import { createHash } from 'node:crypto';
import { invalid } from './errors.js';

/**
 * Opaque page tokens (AIP-158): the position to continue from, bound to the request's filters so a
 * token cannot be replayed against a different query.
 */
export function encodePageToken(after: string, filters: unknown): string {
  return Buffer.from(JSON.stringify({ a: after, f: digest(filters) })).toString('base64url');
}

export function decodePageToken(token: string, filters: unknown): string | undefined {
  if (!token) return undefined;
  let parsed: { a?: unknown; f?: unknown };
  try {
    parsed = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { a?: unknown; f?: unknown };
  } catch {
    throw invalid('page_token is not a token this server issued');
  }
  if (typeof parsed.a !== 'string' || typeof parsed.f !== 'string') throw invalid('page_token is not a token this server issued');
  if (parsed.f !== digest(filters)) throw invalid('page_token was issued for different filters; start again without it');
  return parsed.a;
}

function digest(filters: unknown): string {
  return createHash('sha256').update(JSON.stringify(filters)).digest('base64url').slice(0, 16);
}
