import http2 from 'node:http2';
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { create, fromBinary, isMessage, type DescMessage, type DescMethodServerStreaming, type DescMethodUnary, type DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, createServiceImplSpec, type Interceptor, type MethodImplSpec, type StreamRequest, type StreamResponse, type UnaryRequest, type UnaryResponse } from '@connectrpc/connect';
import { parseTimeout, setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import { CallContext } from './call-context.js';
import { grpcPercentEncode } from './malformed-requests.js';
import { encodeMessage } from './message-encoder.js';

/** Five bytes before every gRPC message: a flags byte and the length (big-endian). */
const ENVELOPE_HEADER = 5;
/** Response messages from this size on are gzipped when the client accepts it, as connect-es does. */
const COMPRESS_MIN_BYTES = 1024;
/** Longest deadline a timer can hold (about 24.8 days); a longer grpc-timeout would overflow it. */
const MAX_TIMEOUT_MS = 2 ** 31 - 1;
const gzip = promisify(zlib.gzip);

/** Why a call's signal is aborted once it has ended. Shared: with no reason, AbortController makes a DOMException (stack trace and all) per call. */
const CALL_ENDED = new ConnectError('the call has ended', Code.Canceled);
const CLIENT_GONE = new ConnectError('the client closed the call', Code.Canceled);

export interface GrpcCallsOptions {
  /** The services whose unary and server-streaming methods are served here, with their implementations. */
  services: ReadonlyArray<readonly [DescService, object]>;
  /** The same interceptors the connect-es handler runs, in the same order. */
  interceptors: Interceptor[];
  /** Largest request message, as connect-es's readMaxBytes. */
  readMaxBytes: number;
  shutdownSignal: AbortSignal;
  /** Where a failure outside the interceptors (a message that cannot be written) is logged. */
  log: (msg: string, err?: unknown) => void;
}

type UnarySpec = MethodImplSpec & { kind: 'unary'; method: DescMethodUnary };
type StreamSpec = MethodImplSpec & { kind: 'server_streaming'; method: DescMethodServerStreaming };
type Spec = UnarySpec | StreamSpec;
type UnaryChain = (req: UnaryRequest) => Promise<UnaryResponse>;
/** A served method; a unary one with its interceptors applied once, not on every call. */
interface Route {
  spec: Spec;
  unary?: UnaryChain;
}

/**
 * Envelopes of frozen messages, which cannot change: one message written to many streams (a
 * keepalive tick's, to thousands) is encoded once.
 */
const sharedEnvelopes = new WeakMap<object, Buffer>();

/** Where a unary request carries its call to the method at the end of the interceptors. */
const CALL = Symbol('call');
type CallRequest = UnaryRequest & { [CALL]: CallContext };

/** The HTTP/2 streams the short path serves: the server asks `accepts` first, and gives it those it takes. */
export interface GrpcStreams {
  accepts(headers: http2.IncomingHttpHeaders): boolean;
  serve(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void;
}

/**
 * gRPC calls over HTTP/2 with one request message (unary and server-streaming: heartbeats, reports,
 * submits, and every worker's FetchJobs stream), served without connect-es's streaming pipeline.
 * connect-es runs every call through about ten async-iterable stages: about 0.5 ms of server CPU per
 * unary call on this machine (five times the HTTP/2 work), and 34 KiB of heap per open stream. Here
 * the one request message is read whole, and the method runs with the same interceptors and handler
 * context connect-es gives it, so authentication, metrics, error mapping and deadlines are those
 * every other call gets. The calls are served on Node's HTTP/2 stream API, without its compatibility
 * layer's request and response objects: at 10,000 workers those are a heartbeat's largest garbage
 * and part of every open stream's heap. Anything else (client streams, Connect, gRPC-Web, JSON,
 * compressed requests, HTTP/1) is left to the server's request handler (connect-es).
 */
export function grpcShortPath(opts: GrpcCallsOptions): GrpcStreams {
  const routes = new Map<string, Route>();
  for (const [service, impl] of opts.services) {
    const spec = createServiceImplSpec(service, impl as never);
    for (const m of Object.values(spec.methods)) {
      const path = `/${service.typeName}/${m.method.name}`;
      if (m.kind === 'unary') routes.set(path, { spec: m as UnarySpec, unary: unaryChain(m as UnarySpec, opts.interceptors) });
      else if (m.kind === 'server_streaming') routes.set(path, { spec: m as StreamSpec });
    }
  }
  const routeOf = (h: http2.IncomingHttpHeaders) => (h[':method'] === 'POST' ? routes.get(h[':path'] ?? '') : undefined);
  return {
    accepts: (h) => routeOf(h) !== undefined && servedHere(h),
    serve: (stream, h) => new GrpcCall(routeOf(h)!, opts, stream, h).start(),
  };
}

/**
 * Serves the HTTP/2 streams `streams` accepts on `server` itself; the rest go on to the server's
 * request handler, through Node's compatibility layer as before. `before` sees each stream taken
 * (the connection guard counts it in flight).
 */
export function serveStreamsFirst(
  server: http2.Http2Server | http2.Http2SecureServer,
  streams: GrpcStreams,
  before: (stream: http2.ServerHttp2Stream, path: string) => void = () => undefined,
): void {
  // Node adds its compatibility layer as the 'stream' listener once a request handler is set.
  const compat = server.listeners('stream') as Array<(...args: unknown[]) => void>;
  server.removeAllListeners('stream');
  server.on('stream', (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, ...rest: unknown[]) => {
    if (streams.accepts(headers)) {
      before(stream, headers[':path'] ?? '');
      streams.serve(stream, headers);
      return;
    }
    for (const l of compat) l.call(server, stream, headers, ...rest);
  });
}

/** A unary method behind the interceptors, as connect-es's invokeUnaryImplementation calls it. */
function unaryChain(spec: UnarySpec, interceptors: Interceptor[]): UnaryChain {
  const method = async (req: UnaryRequest): Promise<UnaryResponse> => {
    const call = (req as CallRequest)[CALL];
    const message = await spec.impl(req.message as never, call.forMethod(req));
    return { stream: false, message: message as never, method: spec.method, service: spec.method.parent, header: call.responseHeader, trailer: call.responseTrailer };
  };
  return interceptors.reduceRight((next, i) => i(next as never) as never, method);
}

/** Whether the client takes gzipped responses (connect-es's clients, grpc-js, grpcio, grpc-go all say so). */
function acceptsGzip(h: http2.IncomingHttpHeaders): boolean {
  const accept = h['grpc-accept-encoding'];
  return typeof accept === 'string' && accept.split(',').some((e) => e.trim() === 'gzip');
}

/** Binary gRPC without request compression; `application/grpc` alone means protobuf. */
function servedHere(h: http2.IncomingHttpHeaders): boolean {
  const type = h['content-type'];
  if (type !== 'application/grpc' && type !== 'application/grpc+proto') return false;
  const encoding = h['grpc-encoding'];
  return encoding === undefined || encoding === 'identity';
}

/** Where a stream's listeners (shared by every stream: no closures per stream) find its call. */
const kCall = Symbol('edge.grpcCall');
type CallStream = http2.ServerHttp2Stream & { [kCall]?: GrpcCall };

function onData(this: CallStream, chunk: Buffer): void {
  this[kCall]?.take(chunk);
}
function onEnd(this: CallStream): void {
  const call = this[kCall];
  if (call) void call.run().catch((err) => call.crashed(err));
}
function onClose(this: CallStream): void {
  const call = this[kCall];
  this[kCall] = undefined;
  call?.closed();
}
function onWantTrailers(this: CallStream): void {
  this[kCall]?.sendTrailers();
}
/** A stream reset by the client ends with 'close' as well, which is where the call learns of it. */
function ignoreStreamError(): void {}

class GrpcCall {
  private chunks: Buffer[] = [];
  private received = 0;
  private declared = -1;
  private context: CallContext | undefined;
  /** The answer is complete, or the client has gone: nothing more is written. */
  private finished = false;
  /** What end() chose to send last, waiting for Node to ask for the trailers. */
  private trailers: http2.OutgoingHttpHeaders | undefined;

  private readonly spec: Spec;
  private readonly path: string;

  constructor(
    private readonly route: Route,
    private readonly opts: GrpcCallsOptions,
    private readonly stream: CallStream,
    private readonly headers: http2.IncomingHttpHeaders,
  ) {
    this.spec = route.spec;
    this.path = headers[':path'] ?? '';
  }

  start(): void {
    const s = this.stream;
    s[kCall] = this;
    s.on('error', ignoreStreamError);
    s.on('close', onClose);
    s.on('wantTrailers', onWantTrailers);
    s.on('data', onData);
    s.once('end', onEnd);
  }

  /**
   * The client left before the answer was complete: the method sees its signal aborted, as under
   * connect-es, and its iterator is ended by the loop once a pending next() settles (so that the
   * interceptors see the stream end, and count it).
   */
  closed(): void {
    if (this.finished) return;
    this.finished = true;
    this.context?.abort(CLIENT_GONE);
  }

  /** The answer itself could not be written (a header Node refuses): the stream is reset, never left hanging. */
  crashed(err: unknown): void {
    this.finished = true;
    this.opts.log(`gRPC call ${this.path} failed`, err);
    if (!this.stream.destroyed) this.stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
  }

  take(chunk: Buffer): void {
    if (this.finished) return;
    this.chunks.push(chunk);
    this.received += chunk.length;
    // A message sent in tiny DATA frames is kept as a few buffers, not as one object per frame.
    if (this.chunks.length > 64) this.chunks = [Buffer.concat(this.chunks)];
    if (this.declared < 0 && this.received >= ENVELOPE_HEADER) {
      const head = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks);
      this.declared = head.readUInt32BE(1);
    }
    // Refused as soon as the envelope says it is too large, before the rest is buffered.
    if (this.declared > this.opts.readMaxBytes) {
      this.fail(new ConnectError(`message size ${this.declared} is larger than configured readMaxBytes ${this.opts.readMaxBytes}`, Code.ResourceExhausted));
    } else if (this.received > ENVELOPE_HEADER + Math.max(this.declared, 0)) {
      this.fail(new ConnectError(`protocol error: received extra input message for ${this.kindName()} method`, Code.Unimplemented));
    }
  }

  private kindName(): string {
    return this.spec.kind === 'unary' ? 'unary' : 'server-streaming';
  }

  /** The request message, or undefined once the call was refused. */
  private input(): unknown {
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [];
    if (body.length === 0) return this.fail(new ConnectError(`protocol error: missing input message for ${this.kindName()} method`, Code.Unimplemented));
    if (body.length < ENVELOPE_HEADER || body.length !== ENVELOPE_HEADER + this.declared) {
      return this.fail(new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument));
    }
    if ((body[0]! & 0b1) !== 0) return this.fail(new ConnectError('received compressed envelope, but do not know how to decompress', Code.InvalidArgument));
    try {
      return fromBinary(this.spec.method.input, body.subarray(ENVELOPE_HEADER));
    } catch (err) {
      return this.fail(new ConnectError(`parse binary: ${err instanceof Error ? err.message : String(err)}`, Code.InvalidArgument));
    }
  }

  async run(): Promise<void> {
    if (this.finished) return;
    const h = this.headers;
    const timeout = parseTimeout((h['grpc-timeout'] as string | undefined) ?? null, MAX_TIMEOUT_MS);
    if (timeout.error) return this.fail(timeout.error);
    const input = this.input();
    if (input === undefined) return;
    const { method } = this.spec;
    const context = new CallContext(
      method,
      `${h[':scheme'] ?? 'http'}://${h[':authority'] ?? h.host ?? ''}${this.path}`,
      requestHeaders(h),
      new Headers(acceptsGzip(h) ? { 'content-type': 'application/grpc+proto', 'grpc-encoding': 'gzip' } : { 'content-type': 'application/grpc+proto' }),
      timeout.timeoutMs === undefined ? undefined : Math.min(timeout.timeoutMs, MAX_TIMEOUT_MS),
      this.opts.shutdownSignal,
    );
    this.context = context;
    try {
      if (this.route.unary) {
        const res = await this.route.unary(unaryRequest(context, input));
        copyHeaders(res.header, context.responseHeader);
        copyHeaders(res.trailer, context.responseTrailer);
        await this.write(method.output, res.message);
      } else if (this.spec.kind === 'server_streaming') {
        await this.serverStream(this.spec, context, input);
      }
      context.responseTrailer.set('grpc-status', '0');
      this.end(context.responseTrailer);
    } catch (err) {
      // Errors of the method and the interceptors arrive as ConnectErrors (the error interceptor logs the rest).
      if (!(err instanceof ConnectError)) this.opts.log(`gRPC call ${this.path}: the answer could not be written`, err);
      this.fail(err instanceof ConnectError ? err : new ConnectError('internal error', Code.Internal, undefined, undefined, err));
    } finally {
      context.abort(CALL_ENDED);
    }
  }

  /** A server-streaming method through the interceptors, as connect-es calls it; its messages written as they come. */
  private async serverStream(spec: StreamSpec, context: CallContext, input: unknown): Promise<void> {
    // The interceptors see the request as under connect-es; ours read headers and context, never the message.
    const call = async (req: StreamRequest): Promise<StreamResponse> => ({
      stream: true,
      service: spec.method.parent,
      method: spec.method,
      header: context.responseHeader,
      trailer: context.responseTrailer,
      message: spec.impl(input as never, context.forMethod(req)) as AsyncIterable<never>,
    });
    const next = this.opts.interceptors.reduceRight((n, i) => i(n as never) as never, call);
    const res = await next({
      stream: true,
      service: spec.method.parent,
      method: spec.method,
      requestMethod: 'POST',
      url: context.url,
      signal: context.signal,
      header: context.requestHeader,
      contextValues: context.values,
      message: oneMessage(input),
    } as StreamRequest);
    copyHeaders(res.header, context.responseHeader);
    const messages = res.message[Symbol.asyncIterator]();
    let ended = false;
    try {
      while (!this.finished) {
        let r: IteratorResult<unknown>;
        try {
          r = await messages.next();
        } catch (err) {
          ended = true; // an iterator that threw has ended
          throw err;
        }
        if ((ended = r.done === true) || this.finished) break;
        if (!(await this.write(spec.method.output, r.value))) await this.drained();
      }
    } finally {
      // The client left, or a message could not be written: the method's iterator is ended, as connect-es does.
      if (!ended) void Promise.resolve().then(() => messages.return?.()).catch(() => undefined);
    }
    copyHeaders(res.trailer, context.responseTrailer);
  }

  /** Writes one message, and the response headers before the first; false when the stream's buffer is full. */
  private async write(schema: DescMessage, value: unknown): Promise<boolean> {
    if (this.finished || this.stream.destroyed) return true;
    let envelope = sharedEnvelopes.get(value as object);
    if (!envelope) {
      const message = isMessage(value, schema) ? value : create(schema, value as never);
      let bytes: Uint8Array = encodeMessage(schema, message);
      const compress = bytes.length >= COMPRESS_MIN_BYTES && this.context?.responseHeader.get('grpc-encoding') === 'gzip';
      if (compress) bytes = await gzip(bytes);
      if (this.finished || this.stream.destroyed) return true;
      envelope = Buffer.allocUnsafe(ENVELOPE_HEADER + bytes.length);
      envelope[0] = compress ? 1 : 0;
      envelope.writeUInt32BE(bytes.length, 1);
      envelope.set(bytes, ENVELOPE_HEADER);
      // Uncompressed, the envelope is the same for every client.
      if (!compress && Object.isFrozen(value)) sharedEnvelopes.set(value as object, envelope);
    }
    this.head();
    return this.stream.write(envelope);
  }

  private drained(): Promise<void> {
    const s = this.stream;
    return new Promise((resolve) => {
      const done = () => {
        s.off('drain', done);
        s.off('close', done);
        resolve();
      };
      s.on('drain', done);
      s.on('close', done);
    });
  }

  private head(): void {
    if (this.stream.headersSent) return;
    const head: http2.OutgoingHttpHeaders = { ':status': 200, 'content-type': 'application/grpc+proto' };
    this.context?.responseHeader.forEach((v, k) => (head[k] = v));
    // The trailers (grpc-status) follow the last message: Node asks for them with 'wantTrailers'.
    this.stream.respond(head, { waitForTrailers: true });
  }

  private fail(error: ConnectError): undefined {
    const trailer = new Headers(this.context?.responseTrailer);
    setTrailerStatus(trailer, error);
    trailer.set('grpc-message', grpcPercentEncode(error.rawMessage));
    this.end(trailer);
    return undefined;
  }

  /** Headers (if no message went out), then the trailers, which end the stream. */
  private end(trailer: Headers): void {
    if (this.finished) return;
    this.finished = true;
    if (this.stream.destroyed) return;
    this.head();
    const trailers: http2.OutgoingHttpHeaders = {};
    trailer.forEach((v, k) => (trailers[k] = v));
    this.trailers = trailers;
    // A refused request is not read to its end: the connection guard tells the client to stop sending.
    this.stream.end();
  }

  sendTrailers(): void {
    const t = this.trailers;
    if (!t || this.stream.destroyed) return;
    this.trailers = undefined;
    this.stream.sendTrailers(t);
  }
}

/** The request the interceptors see; its signal is made only if one of them, or the method, reads it. */
function unaryRequest(call: CallContext, message: unknown): CallRequest {
  return {
    stream: false,
    service: call.service,
    method: call.method as UnaryRequest['method'],
    requestMethod: 'POST',
    url: call.url,
    header: call.requestHeader,
    contextValues: call.values,
    message: message as never,
    get signal() {
      return call.signal;
    },
    [CALL]: call,
  };
}

function oneMessage<T>(value: T): AsyncIterable<T> {
  return {
    async *[Symbol.asyncIterator]() {
      yield value;
    },
  };
}

function copyHeaders(from: Headers, to: Headers): void {
  if (from === to) return;
  to.forEach((_, k) => to.delete(k));
  from.forEach((v, k) => to.set(k, v));
}

/** The request's headers as connect-es gives them to interceptors: without HTTP/2 pseudo-headers. */
function requestHeaders(h: http2.IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const k in h) {
    if (k.charCodeAt(0) === 58 /* ':' */) continue;
    const v = h[k];
    if (typeof v === 'string') out.set(k, v);
    else if (Array.isArray(v)) for (const x of v) out.append(k, x);
  }
  return out;
}
