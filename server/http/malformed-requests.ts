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
    const r = res as http.ServerResponse;
    const writeHead = r.writeHead.bind(r) as (status: number, headers?: http.OutgoingHttpHeaders) => unknown;
    const write = r.write.bind(r) as (chunk: unknown, ...rest: unknown[]) => boolean;
    const addTrailers = r.addTrailers.bind(r);
    let held: { status: number; headers: http.OutgoingHttpHeaders } | undefined;
    (r as { writeHead: unknown }).writeHead = (status: number, headers: http.OutgoingHttpHeaders = {}) => {
      fixGrpc(headers);
      if (status === 500 && String(headers['content-type'] ?? '').startsWith('application/json')) {
        held = { status, headers };
        return r;
      }
      return writeHead(status, headers);
    };
    (r as { write: unknown }).write = (chunk: unknown, ...rest: unknown[]) => {
      if (held) {
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
        const h = held;
        held = undefined;
        writeHead(h.status, h.headers);
        return write(body, ...rest);
      }
      return write(chunk, ...rest);
    };
    (r as { addTrailers: unknown }).addTrailers = (headers: http.OutgoingHttpHeaders) => {
      fixGrpc(headers);
      return addTrailers(headers);
    };
    const end = r.end.bind(r) as (...a: unknown[]) => unknown;
    (r as { end: unknown }).end = (...a: unknown[]) => {
      if (held) {
        const h = held;
        held = undefined;
        writeHead(h.status, h.headers);
      }
      return end(...a);
    };
    handler(req, res);
  };
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

function grpcPercentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    out += byte >= 0x20 && byte <= 0x7e && byte !== 0x25 ? String.fromCharCode(byte) : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
