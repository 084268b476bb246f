import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { ConnectionGuard, DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './connection-guard.js';
import { serveStreamsFirst, type GrpcStreams } from './grpc-calls.js';

/** Streams one HTTP/2 connection may hold at once: enough for a worker's jobs, not a flood. */
export const MAX_STREAMS_PER_CONNECTION = 256;

type Handler = (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void;

const H2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export interface OnePortServer {
  readonly port: number;
  close(graceMs?: number): Promise<void>;
}

/**
 * Serves h2c (gRPC) and HTTP/1.1 (Connect, gRPC-Web, pages) on one TCP port: the first bytes of a
 * connection tell an HTTP/2 prior-knowledge preface from an HTTP/1 request line.
 */
export interface OnePortOptions {
  tls?: { cert: Buffer; key: Buffer };
  /** Connection deadlines and the per-address limit (see ConnectionGuard); defaults for what is not given. */
  limits?: Partial<ConnectionLimits>;
  /** Paths whose request bodies may last as long as a job (client-streaming RPCs). */
  longRequest?: (path: string) => boolean;
  /** HTTP/2 streams served on Node's stream API before the request handler sees them (gRPC's short path). */
  grpcStreams?: GrpcStreams;
}

export async function listenOnePort(unguarded: Handler, host: string, port: number, opts: OnePortOptions = {}): Promise<OnePortServer> {
  const { tls } = opts;
  const limits = { ...DEFAULT_CONNECTION_LIMITS, ...opts.limits };
  const guard = new ConnectionGuard(limits, opts.longRequest);
  const handler = guard.wrap(unguarded);
  const settings = { maxConcurrentStreams: MAX_STREAMS_PER_CONNECTION };
  // With TLS, ALPN picks HTTP/2 or HTTP/1.1 (Connect, gRPC-Web, pages) on one port.
  const h2 = tls
    ? http2.createSecureServer({ cert: tls.cert, key: tls.key, allowHTTP1: true, settings, handshakeTimeout: 10_000, maxSessionMemory: 32 }, handler)
    : http2.createServer({ settings, maxSessionMemory: 32 }, handler);
  if (opts.grpcStreams) serveStreamsFirst(h2, opts.grpcStreams, (stream, path) => guard.h2Call(stream, path));
  const h1 = http.createServer(handler as http.RequestListener);
  // The guard enforces these on every connection kind; Node's own HTTP/1.1 timers are kept as a second line.
  h1.keepAliveTimeout = limits.idleMs + 5_000;
  h1.headersTimeout = limits.headersMs;
  h1.requestTimeout = limits.requestMs;
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (s) => {
    guard.session(s);
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  if (tls) {
    const secure = h2 as http2.Http2SecureServer;
    secure.on('connection', (socket: net.Socket) => {
      if (!guard.admit(socket)) return;
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
    // The TLS handshake has its own timeout (handshakeTimeout); the headers deadline starts after it.
    secure.on('secureConnection', (socket: net.Socket) => guard.watch(socket));
    secure.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve, reject) => {
      secure.once('error', reject);
      secure.listen(port, host, () => {
        secure.off('error', reject);
        resolve();
      });
    });
    return {
      port: (secure.address() as net.AddressInfo).port,
      async close(graceMs = 3000) {
        const closed = new Promise<void>((resolve) => secure.close(() => resolve()));
        for (const s of sessions) s.close();
        const grace = setTimeout(() => {
          for (const s of sockets) s.destroy();
        }, graceMs);
        await closed;
        clearTimeout(grace);
      },
    };
  }

  const tcp = net.createServer((socket) => {
    if (!guard.admit(socket)) return;
    guard.watch(socket);
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer) => {
      head = Buffer.concat([head, chunk]);
      const n = Math.min(head.length, H2_PREFACE.length);
      const h2Like = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      if (h2Like && head.length < H2_PREFACE.length) return; // need more bytes to decide
      socket.off('data', onData);
      socket.pause();
      socket.unshift(head);
      if (h2Like) {
        // The HTTP/2 session reads what is buffered before it consumes the socket itself.
        h2.emit('connection', socket);
      } else {
        // The HTTP/1 parser takes buffered bytes as 'data' events once the socket flows.
        h1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
    socket.on('error', () => socket.destroy());
  });

  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, host, () => {
      tcp.off('error', reject);
      resolve();
    });
  });

  return {
    port: (tcp.address() as net.AddressInfo).port,
    async close(graceMs = 3000) {
      const closed = new Promise<void>((resolve) => tcp.close(() => resolve()));
      // Streams were already ended by the shutdown signal: let sessions finish what they are sending.
      for (const s of sessions) s.close();
      h1.close();
      h1.closeIdleConnections();
      const grace = setTimeout(() => {
        for (const s of sockets) s.destroy();
      }, graceMs);
      await closed;
      clearTimeout(grace);
    },
  };
}
