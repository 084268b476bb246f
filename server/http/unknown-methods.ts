import type http from 'node:http';
import type http2 from 'node:http2';

type Req = http.IncomingMessage | http2.Http2ServerRequest;
/** Only what is written here: both HTTP/1 and HTTP/2 responses have it. */
type Res = Pick<http.ServerResponse, 'writeHead' | 'end'> | Pick<http2.Http2ServerResponse, 'writeHead' | 'end'>;

/**
 * Answers an RPC to a method this server does not have as the client's protocol expects, rather
 * than with a plain-text page: gRPC and gRPC-Web get status UNIMPLEMENTED (12) in a trailers-only
 * response, Connect gets HTTP 404 with `{"code":"unimplemented"}`. False for anything not an RPC.
 */
export function answerUnknownRpc(req: Req, res: Res): boolean {
  const type = String(req.headers['content-type'] ?? '').toLowerCase();
  const path = (req.url ?? '/').split('?')[0]!;
  // grpc-message carries printable ASCII but '%' as is: the path shown is kept to that.
  const shown = path.slice(0, 200).replace(/[^\x20-\x24\x26-\x7e]/g, '?');
  const message = `method ${shown} is not served here; this server serves the edge.v1 services, grpc.health.v1 and reflection`;
  const r = res as Pick<http.ServerResponse, 'writeHead' | 'end'>;
  if (type.startsWith('application/grpc')) {
    const headers = { 'content-type': type.split(';')[0]!, 'grpc-status': '12', 'grpc-message': message };
    const stream = (res as Partial<http2.Http2ServerResponse>).stream;
    // Trailers-only over HTTP/2: the status goes in the one HEADERS frame, which ends the stream.
    if (stream) stream.respond({ ':status': 200, ...headers }, { endStream: true });
    else {
      r.writeHead(200, headers);
      r.end();
    }
    return true;
  }
  // A Connect call names a method: /package.Service/Method.
  const rpcPath = /^\/[A-Za-z_][\w.]*\.[A-Za-z_]\w*\/[A-Za-z_]\w*$/.test(path);
  const connect = rpcPath && req.method === 'POST' && /^application\/(connect\+)?(json|proto)\b/.test(type);
  const connectGet = rpcPath && req.method === 'GET' && /[?&]connect=v1\b/.test(req.url ?? '');
  if (connect || connectGet) {
    r.writeHead(404, { 'content-type': 'application/json' });
    r.end(JSON.stringify({ code: 'unimplemented', message }));
    return true;
  }
  return false;
}
