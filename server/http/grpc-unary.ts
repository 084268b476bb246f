import type http from 'node:http';
import type http2 from 'node:http2';
import { fromBinary, toBinary, type DescMethodUnary, type DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, createContextValues, createHandlerContext, createServiceImplSpec, type HandlerContext, type Interceptor, type MethodImplSpec } from '@connectrpc/connect';
import { invokeUnaryImplementation } from '@connectrpc/connect/protocol';
import { parseTimeout, setTrailerStatus } from '@connectrpc/connect/protocol-grpc';
import { grpcPercentEncode } from './malformed-requests.js';

type Req = http.IncomingMessage | http2.Http2ServerRequest;
type Res = http.ServerResponse | http2.Http2ServerResponse;
type Handler = (req: Req, res: Res) => void;

/** Five bytes before every gRPC message: a flags byte and the length (big-endian). */
const ENVELOPE_HEADER = 5;

export interface GrpcUnaryOptions {
  /** The services whose unary methods are served here, with their implementations. */
  services: ReadonlyArray<readonly [DescService, object]>;
  /** The same interceptors the connect-es handler runs, in the same order. */
  interceptors: Interceptor[];
  /** Largest request message, as connect-es's readMaxBytes. */
  readMaxBytes: number;
  shutdownSignal: AbortSignal;
}

const CALL_ENDED = new ConnectError('the call has ended', Code.Canceled);

type UnarySpec = MethodImplSpec & { kind: 'unary'; method: DescMethodUnary };

/**
 * gRPC unary calls over HTTP/2 (what workers and the CLI send most: heartbeats, reports, submits),
 * served without connect-es's streaming pipeline. connect-es handles every call as async iterables
 * of envelopes: about 0.7 ms of server CPU per unary call on this machine, several times the HTTP/2
 * work itself. Here the one request message is read whole, and the method runs through connect-es's
 * own invokeUnaryImplementation with the same interceptors and handler context, so authentication,
 * metrics, error mapping and deadlines are the ones every other call gets. Anything else (streams,
 * Connect, gRPC-Web, JSON, compressed requests, HTTP/1) goes to `fallback`, connect-es itself.
 */
export function grpcUnaryFastPath(opts: GrpcUnaryOptions, fallback: Handler): Handler {
  const specs = new Map<string, UnarySpec>();
  for (const [service, impl] of opts.services) {
    const spec = createServiceImplSpec(service, impl as never);
    for (const m of Object.values(spec.methods)) if (m.kind === 'unary') specs.set(`/${service.typeName}/${m.method.name}`, m as UnarySpec);
  }
  return (req, res) => {
    const spec = req.httpVersionMajor === 2 && req.method === 'POST' ? specs.get(req.url ?? '') : undefined;
    if (!spec || !servedHere(req.headers)) return fallback(req, res);
    new UnaryCall(spec, opts, req as http2.Http2ServerRequest, res as http2.Http2ServerResponse).start();
  };
}

/** Binary gRPC without request compression; `application/grpc` alone means protobuf. */
function servedHere(h: http.IncomingHttpHeaders): boolean {
  const type = h['content-type'];
  if (type !== 'application/grpc' && type !== 'application/grpc+proto') return false;
  const encoding = h['grpc-encoding'];
  return encoding === undefined || encoding === 'identity';
}

class UnaryCall {
  private chunks: Buffer[] = [];
  private received = 0;
  private declared = -1;
  private context: ReturnType<typeof createHandlerContext> | undefined;
  private answered = false;

  constructor(
    private readonly spec: UnarySpec,
    private readonly opts: GrpcUnaryOptions,
    private readonly req: http2.Http2ServerRequest,
    private readonly res: http2.Http2ServerResponse,
  ) {}

  start(): void {
    this.req.on('data', (chunk: Buffer) => this.take(chunk));
    this.req.once('end', () => void this.run());
    // A client that leaves before its answer: the method sees its signal aborted, as under connect-es.
    this.res.once('close', () => {
      if (!this.answered) this.context?.abort(new ConnectError('the client closed the call', Code.Canceled));
    });
  }

  private take(chunk: Buffer): void {
    if (this.answered) return;
    this.chunks.push(chunk);
    this.received += chunk.length;
    if (this.declared < 0 && this.received >= ENVELOPE_HEADER) {
      const head = this.chunks.length === 1 ? chunk : Buffer.concat(this.chunks);
      this.declared = head.readUInt32BE(1);
    }
    // Refused as soon as the envelope says it is too large, before the rest is buffered.
    if (this.declared > this.opts.readMaxBytes) {
      this.fail(new ConnectError(`message size ${this.declared} is larger than configured readMaxBytes ${this.opts.readMaxBytes}`, Code.ResourceExhausted));
    } else if (this.received > ENVELOPE_HEADER + Math.max(this.declared, 0)) {
      this.fail(new ConnectError('protocol error: received extra input message for unary method', Code.Unimplemented));
    }
  }

  private async run(): Promise<void> {
    if (this.answered) return;
    const timeout = parseTimeout((this.req.headers['grpc-timeout'] as string | undefined) ?? null, Number.MAX_SAFE_INTEGER);
    if (timeout.error) return this.fail(timeout.error);
    const body = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
    this.chunks = [];
    if (body.length === 0) return this.fail(new ConnectError('protocol error: missing input message for unary method', Code.Unimplemented));
    if (body.length < ENVELOPE_HEADER || body.length !== ENVELOPE_HEADER + this.declared) {
      return this.fail(new ConnectError('protocol error: incomplete envelope', Code.InvalidArgument));
    }
    if ((body[0]! & 0b1) !== 0) return this.fail(new ConnectError('received compressed envelope, but do not know how to decompress', Code.InvalidArgument));
    const { method } = this.spec;
    let input;
    try {
      input = fromBinary(method.input, body.subarray(ENVELOPE_HEADER));
    } catch (err) {
      return this.fail(new ConnectError(`parse binary: ${err instanceof Error ? err.message : String(err)}`, Code.InvalidArgument));
    }
    const context = createHandlerContext({
      ...this.spec,
      service: method.parent,
      requestMethod: 'POST',
      protocolName: 'grpc',
      timeoutMs: timeout.timeoutMs,
      shutdownSignal: this.opts.shutdownSignal,
      requestHeader: requestHeaders(this.req.headers),
      url: this.req.url,
      responseHeader: { 'content-type': 'application/grpc+proto' },
      responseTrailer: {},
      contextValues: createContextValues(),
    });
    this.context = context;
    let output;
    try {
      output = await invokeUnaryImplementation(this.spec, context, input, this.opts.interceptors);
    } catch (err) {
      return this.fail(err instanceof ConnectError ? err : new ConnectError('internal error', Code.Internal, undefined, undefined, err));
    } finally {
      // A shared reason: with none, AbortController makes a DOMException, stack trace and all, per call.
      context.abort(CALL_ENDED);
    }
    const bytes = toBinary(method.output, output);
    const envelope = Buffer.allocUnsafe(ENVELOPE_HEADER + bytes.length);
    envelope[0] = 0;
    envelope.writeUInt32BE(bytes.length, 1);
    envelope.set(bytes, ENVELOPE_HEADER);
    context.responseTrailer.set('grpc-status', '0');
    this.answer(context, envelope);
  }

  private fail(error: ConnectError): void {
    const context = this.context;
    const trailer = new Headers(context?.responseTrailer);
    setTrailerStatus(trailer, error);
    trailer.set('grpc-message', grpcPercentEncode(error.rawMessage));
    this.answer(context, undefined, trailer);
  }

  private answer(context: HandlerContext | undefined, body: Buffer | undefined, trailer = context?.responseTrailer): void {
    if (this.answered) return;
    this.answered = true;
    const res = this.res;
    if (res.stream.destroyed || res.headersSent) return;
    const head: http.OutgoingHttpHeaders = { 'content-type': 'application/grpc+proto' };
    context?.responseHeader.forEach((v, k) => (head[k] = v));
    res.writeHead(200, head);
    const trailers: http.OutgoingHttpHeaders = {};
    trailer?.forEach((v, k) => (trailers[k] = v));
    res.addTrailers(trailers);
    if (body) res.end(body);
    else res.end();
    // The rest of a refused request is not read: the client is told to stop sending once the
    // trailers are out (the connection guard does that for answers sent before the request ended).
  }
}

/** The request's headers as connect-es gives them to interceptors: without HTTP/2 pseudo-headers. */
function requestHeaders(h: http.IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const k in h) {
    if (k.charCodeAt(0) === 58 /* ':' */) continue;
    const v = h[k];
    if (typeof v === 'string') out.set(k, v);
    else if (Array.isArray(v)) for (const x of v) out.append(k, x);
  }
  return out;
}
