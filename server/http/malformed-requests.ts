import type http from 'node:http';
import type http2 from 'node:http2';

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;
type Handler = (req: Req, res: Res) => void;

/**
 * What connect-es reports as Internal about a request's own bytes: a body that is not protobuf, a
 * compressed flag without a compression, a message that ends early. All are the client's fault.
 */
const PARSE_FAILURE = /^(parse binary:|received compressed envelope|invalid envelope|protocol error: promised)/;

/**
 * A malformed request is the client's fault: this turns connect-es's Internal "parse binary" errors
 * into InvalidArgument, for gRPC (grpc-status in headers or trailers) and Connect unary (HTTP 500
 * with a JSON body becomes 400 invalid_argument). Everything else passes untouched.
 */
export function malformedIsInvalid(handler: Handler): Handler {
  return (req, res) => {
    const r = res as Patched;
    // The response's own methods, called on it; the replacements are shared by every response (a
    // server holds one per open stream: no bound function or closure per call).
    r[kOwn] = { writeHead: r.writeHead as Own['writeHead'], write: r.write as Own['write'], addTrailers: r.addTrailers, end: r.end as Own['end'], held: undefined };
    r.writeHead = patchedWriteHead as Patched['writeHead'];
    r.write = patchedWrite as Patched['write'];
    r.addTrailers = patchedAddTrailers;
    r.end = patchedEnd as Patched['end'];
    handler(req, res);
  };
}

const kOwn = Symbol('edge.malformed');

interface Own {
  writeHead: (...a: any[]) => unknown;
  write: (...a: any[]) => boolean;
  addTrailers: (headers: http.OutgoingHttpHeaders) => void;
  end: (...a: any[]) => unknown;
  /** A Connect error answer's head, held until its body shows whether it is a parse failure. */
  held: { status: number; headers: http.OutgoingHttpHeaders } | undefined;
}

type Patched = http.ServerResponse & { [kOwn]: Own };

function patchedWriteHead(this: Patched, status: number, headers: http.OutgoingHttpHeaders = {}) {
  fixGrpc(headers);
  const own = this[kOwn];
  if (status === 500 && String(headers['content-type'] ?? '').startsWith('application/json')) {
    own.held = { status, headers };
    return this;
  }
  return own.writeHead.call(this, status, headers);
}

function patchedWrite(this: Patched, chunk: unknown, ...rest: unknown[]): boolean {
  const own = this[kOwn];
  const held = own.held;
  if (!held) return own.write.call(this, chunk, ...rest);
  let body = chunk;
  const text = Buffer.isBuffer(chunk) || chunk instanceof Uint8Array ? Buffer.from(chunk).toString('utf8') : String(chunk);
  try {
    const err = JSON.parse(text) as { code?: string; message?: string };
    if (err.code === 'internal' && PARSE_FAILURE.test(err.message ?? '')) {
      body = Buffer.from(JSON.stringify({ ...err, code: 'invalid_argument' }));
      held.status = 400;
      if (held.headers['content-length'] !== undefined) held.headers['content-length'] = String((body as Buffer).length);
    }
  } catch {
    // not an error body: leave it
  }
  own.held = undefined;
  own.writeHead.call(this, held.status, held.headers);
  return own.write.call(this, body, ...rest);
}

function patchedAddTrailers(this: Patched, headers: http.OutgoingHttpHeaders): void {
  fixGrpc(headers);
  this[kOwn].addTrailers.call(this, headers);
}

function patchedEnd(this: Patched, ...a: unknown[]) {
  const own = this[kOwn];
  const held = own.held;
  if (held) {
    own.held = undefined;
    own.writeHead.call(this, held.status, held.headers);
  }
  return own.end.apply(this, a);
}

function fixGrpc(headers: http.OutgoingHttpHeaders): void {
  if (headers['grpc-message'] === undefined) return;
  let message = String(headers['grpc-message']);
  try {
    message = decodeURIComponent(message);
  } catch {
    // keep it as sent
  }
  // The gRPC spec percent-encodes only what is not printable ASCII, and '%'. connect-es encodes
  // more (';', ',', '/', …), which some clients (grpc-js decodes with decodeURI) show as "%3B".
  headers['grpc-message'] = grpcPercentEncode(message);
  if (String(headers['grpc-status']) === '13' && PARSE_FAILURE.test(message)) headers['grpc-status'] = '3';
}

export function grpcPercentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
