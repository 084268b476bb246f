import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';

/** Streams one HTTP/2 connection may hold at once: enough for a worker's jobs, not a flood. */
export const MAX_STREAMS_PER_CONNECTION = 256;
/** An HTTP/2 connection with no open stream for this long is closed; one with a live stream never is. */
export const IDLE_CONNECTION_MS = 5 * 60_000;
/** The server pings every HTTP/2 connection this often, so NATs and proxies keep quiet streams open. */
export const PING_INTERVAL_MS = 30_000;

export interface ConnectionLimits {
  /** Close an HTTP/2 connection that has had no open stream this long (default IDLE_CONNECTION_MS). */
  idleMs?: number;
  /** Ping every HTTP/2 connection this often (default PING_INTERVAL_MS). */
  pingMs?: number;
}

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
export async function listenOnePort(
  handler: Handler,
  host: string,
  port: number,
  tls?: { cert: Buffer; key: Buffer },
  limits: ConnectionLimits = {},
): Promise<OnePortServer> {
  const idleMs = limits.idleMs ?? IDLE_CONNECTION_MS;
  const pingMs = limits.pingMs ?? PING_INTERVAL_MS;
  const settings = { maxConcurrentStreams: MAX_STREAMS_PER_CONNECTION };
  // With TLS, ALPN picks HTTP/2 or HTTP/1.1 (Connect, gRPC-Web, pages) on one port.
  const h2 = tls
    ? http2.createSecureServer({ cert: tls.cert, key: tls.key, allowHTTP1: true, settings, handshakeTimeout: 10_000, maxSessionMemory: 32 }, handler)
    : http2.createServer({ settings, maxSessionMemory: 32 }, handler);
  const h1 = http.createServer(handler as http.RequestListener);
  h1.keepAliveTimeout = 65_000;
  // A client that trickles its headers or body cannot hold a connection for ever.
  h1.headersTimeout = 30_000;
  h1.requestTimeout = 120_000;
  const sockets = new Set<net.Socket>();
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on('session', (s) => {
    sessions.add(s);
    // Idle means no open stream, not no bytes: a quiet FetchJobs or WatchJobs stream lives for days.
    let open = 0;
    let idleSince = Date.now();
    s.on('stream', (stream) => {
      open += 1;
      stream.once('close', () => {
        open -= 1;
        if (open === 0) idleSince = Date.now();
      });
    });
    const tick = setInterval(() => {
      if (s.closed || s.destroyed) return;
      if (open === 0 && Date.now() - idleSince >= idleMs) {
        s.close();
        return;
      }
      try {
        s.ping(() => undefined);
      } catch {
        // Too many pings unanswered: the next tick tries again; a dead peer ends with its socket.
      }
    }, Math.max(10, Math.min(pingMs, idleMs)));
    tick.unref();
    s.once('close', () => {
      clearInterval(tick);
      sessions.delete(s);
    });
  });
  if (tls) {
    const secure = h2 as http2.Http2SecureServer;
    secure.on('connection', (socket: net.Socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
    });
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
