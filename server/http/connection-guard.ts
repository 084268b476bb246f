import type http from 'node:http';
import type http2 from 'node:http2';
import type net from 'node:net';

/**
 * Deadlines on every connection, whatever it speaks (h2c, HTTP/1.1, TLS), so that no client holds
 * the server's sockets and memory by sending slowly or nothing at all:
 *
 * - headers: from accept (after the TLS handshake on the TLS port) to the head of the first request
 *   (an HTTP/1.1 request line and headers, or an HTTP/2 HEADERS frame, which comes after the preface);
 * - idle: a connection with nothing in flight (between keep-alive requests, an HTTP/2 session with no
 *   open stream) is closed;
 * - request: a request's body must have arrived whole this long after its head, except on the
 *   client-streaming paths (log uploads) whose bodies last as long as a job runs.
 *
 * A connection with a request in flight is never cut for being quiet: a worker's FetchJobs stream or
 * an operator's WatchJobs or TailLogs may be live for days. At most maxPerAddress connections are
 * open from one source address at once; more are closed at accept.
 */
export interface ConnectionLimits {
  headersMs: number;
  idleMs: number;
  requestMs: number;
  maxPerAddress: number;
  /** The server pings every HTTP/2 connection this often, so NATs and proxies keep quiet streams open. */
  pingMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  headersMs: 10_000,
  idleMs: 60_000,
  requestMs: 120_000,
  maxPerAddress: 512,
  pingMs: 30_000,
};

interface ConnectionState {
  socket: net.Socket;
  inFlight: number;
  served: number;
  timer: NodeJS.Timeout | undefined;
  session?: http2.ServerHttp2Session;
}

const kState = Symbol('edge.connection');

type Tracked = net.Socket & { [kState]?: ConnectionState };

export class ConnectionGuard {
  private readonly perAddress = new Map<string, number>();

  constructor(
    private readonly limits: ConnectionLimits,
    /** Paths whose request bodies may last (client-streaming RPCs). */
    private readonly longRequest: (path: string) => boolean = () => false,
  ) {}

  /** Counts a newly accepted TCP connection; false (and closed) when its address has too many. */
  admit(socket: net.Socket): boolean {
    const address = socket.remoteAddress ?? '';
    const n = this.perAddress.get(address) ?? 0;
    if (n >= this.limits.maxPerAddress) {
      socket.destroy();
      return false;
    }
    this.perAddress.set(address, n + 1);
    socket.once('close', () => {
      const left = (this.perAddress.get(address) ?? 1) - 1;
      if (left > 0) this.perAddress.set(address, left);
      else this.perAddress.delete(address);
    });
    return true;
  }

  /** Starts the headers deadline of a connection ready for requests (plaintext at accept, TLS after its handshake). */
  watch(socket: net.Socket): void {
    const tracked = socket as Tracked;
    if (tracked[kState]) return;
    const state: ConnectionState = { socket, inFlight: 0, served: 0, timer: undefined };
    tracked[kState] = state;
    socket.once('close', () => clearTimeout(state.timer));
    this.arm(state);
  }

  /** An HTTP/2 session on a watched connection: idle, it is closed with a GOAWAY rather than cut. */
  session(session: http2.ServerHttp2Session): void {
    const state = (session.socket as Tracked | undefined)?.[kState];
    if (state) state.session = session;
    const ping = setInterval(() => {
      if (session.closed || session.destroyed) return;
      try {
        session.ping(() => undefined);
      } catch {
        // Too many pings unanswered: the next tick tries again; a dead peer ends with its socket.
      }
    }, this.limits.pingMs);
    ping.unref();
    session.once('close', () => clearInterval(ping));
  }

  /** Wraps the request handler: every request or stream is counted in flight on its connection. */
  wrap<H extends (req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => void>(handler: H): H {
    return ((req: http.IncomingMessage | http2.Http2ServerRequest, res: http.ServerResponse | http2.Http2ServerResponse) => {
      if ('stream' in req && req.stream) {
        this.h2Call(req.stream, req.url ?? '');
        (res as http2.Http2ServerResponse).on('finish', stopSendingOnFinish);
      }
      else this.h1Request(req as http.IncomingMessage, res as http.ServerResponse);
      handler(req, res);
    }) as H;
  }

  /**
   * An HTTP/2 stream is counted in flight on its connection. A call answered before its request
   * ended (a refused log chunk, a bad token on an upload): once its trailers are out, the client is
   * told to stop sending (RST_STREAM NO_ERROR), so a client that writes its whole request before
   * reading is not left waiting for ever. The listeners are shared by every stream (no closure per
   * stream: a server may hold 10,000 open).
   */
  h2Call(stream: http2.ServerHttp2Stream, path: string): void {
    this.h2Stream(stream, path);
    stream.on('wantTrailers', stopSendingSoon);
  }

  private h1Request(req: http.IncomingMessage, res: http.ServerResponse): void {
    const state = (req.socket as Tracked)[kState];
    if (!state) return;
    const done = this.begin(state);
    let deadline: NodeJS.Timeout | undefined;
    if (!req.complete && !this.longRequest(req.url ?? '')) {
      deadline = setTimeout(() => req.socket.destroy(), this.limits.requestMs);
      req.once('end', () => clearTimeout(deadline));
    }
    const end = () => {
      clearTimeout(deadline);
      done();
    };
    res.once('close', end);
    // A call answered before its body arrived whole (one over the size limit): the rest of the body
    // would be taken for the next request on this connection, which then never got an answer. Such an
    // answer says `Connection: close`, so the client opens a new connection for its next call.
    const writeHead = res.writeHead;
    res.writeHead = function (this: http.ServerResponse, ...args: Parameters<typeof writeHead>) {
      if (!req.complete && !res.headersSent) res.setHeader('connection', 'close');
      return writeHead.apply(this, args);
    } as typeof writeHead;
  }

  private h2Stream(stream: http2.ServerHttp2Stream, path: string): void {
    // The session's socket is a proxy that forwards property reads to the socket this guard watched.
    const state = (stream.session?.socket as Tracked | undefined)?.[kState];
    if (!state) return;
    this.start(state);
    const tracked = stream as TrackedStream;
    // What the stream's end needs, on the stream itself: its listeners are shared by every stream.
    tracked[kStream] = { guard: this, connection: state, deadline: undefined };
    if (!stream.readableEnded && !this.longRequest(path)) {
      tracked[kStream].deadline = setTimeout(cancelStream, this.limits.requestMs, stream);
      stream.on('end', clearStreamDeadline);
    }
    stream.on('close', streamClosed);
  }

  /** A request starts on a connection: no connection deadline runs while it is in flight. */
  private begin(state: ConnectionState): () => void {
    this.start(state);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.finish(state);
    };
  }

  private start(state: ConnectionState): void {
    state.inFlight++;
    state.served++;
    clearTimeout(state.timer);
    state.timer = undefined;
  }

  /** A request started with start() has ended (called once per request). */
  finish(state: ConnectionState): void {
    state.inFlight--;
    if (state.inFlight === 0) this.arm(state);
  }

  private arm(state: ConnectionState): void {
    clearTimeout(state.timer);
    if (state.socket.destroyed) return;
    const idle = state.served > 0;
    state.timer = setTimeout(() => {
      if (idle && state.session && !state.session.closed) {
        state.session.close();
        // A peer that keeps the socket open past the GOAWAY is cut.
        setTimeout(() => state.socket.destroy(), 1000).unref();
      } else {
        state.socket.destroy();
      }
    }, idle ? this.limits.idleMs : this.limits.headersMs);
    state.timer.unref();
  }
}

const kStream = Symbol('edge.stream');

interface StreamState {
  guard: ConnectionGuard;
  connection: ConnectionState;
  deadline: NodeJS.Timeout | undefined;
}

type TrackedStream = http2.ServerHttp2Stream & { [kStream]?: StreamState };

function cancelStream(stream: http2.ServerHttp2Stream): void {
  stream.close(0x8 /* NGHTTP2_CANCEL */);
}

function clearStreamDeadline(this: TrackedStream): void {
  const s = this[kStream];
  if (s) clearTimeout(s.deadline);
}

function streamClosed(this: TrackedStream): void {
  const s = this[kStream];
  if (!s) return;
  this[kStream] = undefined;
  clearTimeout(s.deadline);
  s.guard.finish(s.connection);
}

function stopSending(stream: http2.ServerHttp2Stream): void {
  if (!stream.readableEnded && !stream.destroyed) stream.close(0x0 /* NGHTTP2_NO_ERROR */);
}

/**
 * Node sends trailers on an immediate of its own (sendTrailers defers the HEADERS frame off
 * nghttp2's stack): the stream is reset an immediate later, on the next turn of the loop, so that
 * its RST_STREAM never overtakes the trailers, whichever 'wantTrailers' listener came first.
 */
function stopSendingSoon(this: http2.ServerHttp2Stream): void {
  setImmediate(stopSendingNextTurn, this);
}

function stopSendingNextTurn(stream: http2.ServerHttp2Stream): void {
  setImmediate(stopSending, stream);
}

function stopSendingOnFinish(this: http2.Http2ServerResponse): void {
  stopSending(this.stream);
}
