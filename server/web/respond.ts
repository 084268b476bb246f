import type { ConnectNodeAdapterOptions } from '@connectrpc/connect-node';
import { Code, ConnectError } from '@connectrpc/connect';
import { layout, type PageFrame } from './layout.js';
import { noticeSignature } from './session.js';

/** Writing answers to the browser: headers every page carries, redirects, forms, notices. */

type NodeHandlerFn = NonNullable<ConnectNodeAdapterOptions['fallback']>;
export type Response = Parameters<NodeHandlerFn>[1];
export type Request = Parameters<NodeHandlerFn>[0];
export type Notice = { text: string; error: boolean };

export const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
};
const MAX_FORM_BYTES = 64 * 1024;

export const ok = (text: string): Notice => ({ text, error: false });
export const messageOf = (err: unknown) => (err instanceof ConnectError ? err.rawMessage : (err as Error)?.message ?? String(err));

/** Only paths of this site's pages, so that a form cannot send the browser elsewhere. */
export function localPath(p: string | null | undefined): string {
  if (!p || !p.startsWith('/ui/') || p.startsWith('//') || /[\\\r\n]/.test(p)) return '/ui/workers';
  return p;
}

export function withNotice(back: string, notice: Notice, session: string): string {
  const u = new URL(back, 'http://host');
  const text = notice.text.slice(0, 2000);
  u.searchParams.set('notice', text);
  if (notice.error) u.searchParams.set('error', '1');
  else u.searchParams.delete('error');
  u.searchParams.set('sig', noticeSignature(session, text, notice.error));
  return u.pathname + u.search;
}

export function send(res: Response, status: number, type: string, body: string) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...SECURITY_HEADERS });
  res.end(body);
}

export function page(res: Response, status: number, frame: PageFrame, body: Parameters<typeof layout>[1]) {
  send(res, status, 'text/html; charset=utf-8', layout(frame, body));
}

export function asset(res: Response, type: string, body: string) {
  res.writeHead(200, { 'content-type': type, 'cache-control': 'public, max-age=300', 'x-content-type-options': 'nosniff' });
  res.end(body);
}

export function redirect(res: Response, location: string) {
  res.writeHead(303, { location, 'cache-control': 'no-store' });
  res.end();
}

export async function readForm(req: Request): Promise<URLSearchParams> {
  const type = String(req.headers['content-type'] ?? '');
  if (!type.startsWith('application/x-www-form-urlencoded')) throw new ConnectError('forms only', Code.InvalidArgument);
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new ConnectError('form too large', Code.ResourceExhausted);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
