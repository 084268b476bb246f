import http2 from 'node:http2';
import { create, fromBinary, isMessage, toBinary, type DescMessage, type DescMethodServerStreaming, type DescMethodUnary, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { Code, ConnectError, type StreamResponse, type Transport, type UnaryResponse } from '@connectrpc/connect';
import type { Http2SessionManager } from '@connectrpc/connect-node';
import { aborted, fromNodeError, statusError, webHeaders } from './lean-call-errors.js';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR } = http2.constants;

type HeadersArg = ConstructorParameters<typeof Headers>[0];

/**
 * The transport's unary and server-streaming calls made straight on an HTTP/2 stream of the same
 * session manager, the same gRPC bytes on the wire; client streams (log uploads) stay with
 * connect-node. connect's pipeline of async iterables, abort controllers and header objects cost a
 * submitting client 0.23–0.56 ms of CPU per `SubmitJob` (bench/tools/worker-cpu.ts --single), four
 * times what the call itself needs, on the machine that also runs the workers and often the server;
 * a worker pays it for every report and every message of its job stream. What callers see is
 * connect's: a ConnectError with the code and message the server sent (details included),
 * DeadlineExceeded for a timeout, Canceled for an abort, Unavailable for a lost connection.
 */
export function withLeanCalls(inner: Transport, sessions: Http2SessionManager, headers: () => Record<string, string>): Transport {
  return {
    unary: (method, signal, timeoutMs, header, input) => leanUnary(sessions, headers, method, signal, timeoutMs, header, input),
    stream: (method, signal, timeoutMs, header, input, contextValues) =>
      method.methodKind === 'server_streaming'
        ? leanServerStream(sessions, headers, method, signal, timeoutMs, header, input)
        : inner.stream(method, signal, timeoutMs, header, input, contextValues),
  };
}

/** What both kinds of call share: the request on its stream, the deadline and the signal, and how the stream ended. */
class Call {
  stream: http2.ClientHttp2Stream | undefined;
  response: http2.IncomingHttpHeaders | undefined;
  trailers: http2.IncomingHttpHeaders | undefined;
  /** Set once the call failed (its stream is then reset). */
  failure: ConnectError | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly onAbort = () => this.fail(aborted(this.signal!));
  private pending: Buffer | undefined;

  constructor(
    private readonly sessions: Http2SessionManager,
    private readonly signal: AbortSignal | undefined,
    timeout: number | undefined,
    private readonly on: { failed(err: ConnectError): void; message(bytes: Uint8Array): void; closed(): void; response?(): void },
  ) {
    // The deadline and the signal cover opening the connection too (a server that does not answer a connect).
    if (timeout !== undefined) this.timer = setTimeout(() => this.fail(new ConnectError('the operation timed out', Code.DeadlineExceeded)), timeout);
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  start(path: string, head: http2.OutgoingHttpHeaders, frame: Buffer): void {
    this.sessions.request('POST', path, head, {}).then(
      (s) => this.opened(s, frame),
      (err: unknown) => this.fail(fromNodeError(err)),
    );
  }

  get done(): boolean {
    return this.failure !== undefined || this.ended;
  }

  private ended = false;

  fail(err: ConnectError): void {
    if (this.done) return;
    this.failure = err;
    this.cleanUp();
    const s = this.stream;
    if (s && !s.closed) s.close(err.code === Code.Canceled || err.code === Code.DeadlineExceeded ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR);
    this.on.failed(err);
  }

  /** The caller stops reading a stream early: reset it, quietly. */
  cancel(): void {
    if (this.done) return;
    this.ended = true;
    this.cleanUp();
    if (this.stream && !this.stream.closed) this.stream.close(NGHTTP2_CANCEL);
  }

  private cleanUp(): void {
    clearTimeout(this.timer);
    this.signal?.removeEventListener('abort', this.onAbort);
  }

  private opened(s: http2.ClientHttp2Stream, frame: Buffer): void {
    this.stream = s;
    if (this.done) return void s.close(NGHTTP2_CANCEL);
    s.on('response', (h) => {
      this.response = h;
      this.on.response?.();
    });
    s.on('trailers', (t) => (this.trailers = t));
    s.on('data', (chunk: Buffer) => {
      this.sessions.notifyResponseByteRead(s);
      let pending = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
      while (pending.length >= 5 && !this.done) {
        const length = pending.readUInt32BE(1);
        if (pending.length < 5 + length) break;
        if (pending[0]! & 1) return this.fail(new ConnectError('protocol error: received a compressed message, and no compression was asked for', Code.Internal));
        const bytes = pending.subarray(5, 5 + length);
        pending = pending.subarray(5 + length);
        this.on.message(bytes);
      }
      this.pending = pending.length ? pending : undefined;
    });
    s.on('error', (err) => {
      // Written to after the server answered and closed: the answer decides.
      if ((err as { code?: string }).code === 'ERR_STREAM_WRITE_AFTER_END' && s.writableEnded) return;
      this.fail(fromNodeError(err));
    });
    s.on('close', () => {
      if (this.done) return;
      const err = statusError(this.sessions, s.rstCode, this.response, this.trailers);
      if (err) return this.fail(err);
      this.ended = true;
      this.cleanUp();
      this.on.closed();
    });
    s.end(frame);
  }
}

async function leanUnary<I extends DescMessage, O extends DescMessage>(
  sessions: Http2SessionManager,
  extra: () => Record<string, string>,
  method: DescMethodUnary<I, O>,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
  header: HeadersArg,
  input: MessageInitShape<I>,
): Promise<UnaryResponse<I, O>> {
  const { timeout, head, frame } = request(method, timeoutMs, header, extra, input);
  if (signal?.aborted) throw aborted(signal);
  return new Promise<UnaryResponse<I, O>>((resolve, reject) => {
    let message: Uint8Array | undefined;
    const call: Call = new Call(sessions, signal, timeout, {
      failed: reject,
      message(bytes) {
        if (message) return call.fail(new ConnectError('protocol error: received extra output message for unary method', Code.Unimplemented));
        message = bytes;
      },
      closed() {
        if (!message) return reject(new ConnectError('protocol error: missing output message for unary method', Code.Unimplemented));
        let output: MessageShape<O>;
        try {
          output = fromBinary(method.output, message);
        } catch (err) {
          return reject(ConnectError.from(err, Code.Internal));
        }
        const { response, trailers } = call;
        // Header objects only for a caller that asks for them (onHeader, onTrailer).
        resolve({
          stream: false,
          service: method.parent,
          method,
          message: output,
          get header() {
            return webHeaders(response ?? {});
          },
          get trailer() {
            return webHeaders(trailers ?? {});
          },
        });
      },
    });
    call.start(`/${method.parent.typeName}/${method.name}`, head, frame);
  });
}

/**
 * A server stream: resolves once the response has begun (or rejects if the call failed before);
 * its messages come through an async iterable that ends when the server ends the call with OK and
 * throws its error otherwise. Its return() resets the stream (connect's client does not pass a
 * loop's break on: a caller ends a stream with its signal).
 */
async function leanServerStream<I extends DescMessage, O extends DescMessage>(
  sessions: Http2SessionManager,
  extra: () => Record<string, string>,
  method: DescMethodServerStreaming<I, O>,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
  header: HeadersArg,
  inputs: AsyncIterable<MessageInitShape<I>>,
): Promise<StreamResponse<I, O>> {
  let input: MessageInitShape<I> | undefined;
  for await (const m of inputs) {
    input = m;
    break;
  }
  if (input === undefined) throw new ConnectError('protocol error: missing request message', Code.Internal);
  const { timeout, head, frame } = request(method, timeoutMs, header, extra, input);
  if (signal?.aborted) throw aborted(signal);
  const queue: MessageShape<O>[] = [];
  let reader: { resolve(r: IteratorResult<MessageShape<O>>): void; reject(err: unknown): void } | undefined;
  let began: { resolve(): void; reject(err: unknown): void } | undefined;
  const wake = () => {
    const r = reader;
    if (!r) return;
    if (queue.length) {
      reader = undefined;
      r.resolve({ value: queue.shift()!, done: false });
    } else if (call.failure) {
      reader = undefined;
      r.reject(call.failure);
    } else if (call.done) {
      reader = undefined;
      r.resolve({ value: undefined, done: true });
    }
  };
  const call: Call = new Call(sessions, signal, timeout, {
    failed(err) {
      began?.reject(err);
      wake();
    },
    message(bytes) {
      try {
        queue.push(fromBinary(method.output, bytes));
      } catch (err) {
        return call.fail(ConnectError.from(err, Code.Internal));
      }
      wake();
    },
    closed: wake,
    response: () => began?.resolve(),
  });
  await new Promise<void>((resolve, reject) => {
    began = { resolve, reject };
    call.start(`/${method.parent.typeName}/${method.name}`, head, frame);
  });
  began = undefined;
  const messages: AsyncIterable<MessageShape<O>> = {
    [Symbol.asyncIterator]: () => ({
      next: () =>
        new Promise<IteratorResult<MessageShape<O>>>((resolve, reject) => {
          reader = { resolve, reject };
          wake();
        }),
      return: () => {
        call.cancel();
        return Promise.resolve({ value: undefined, done: true });
      },
    }),
  };
  return {
    stream: true,
    service: method.parent,
    method,
    message: messages,
    get header() {
      return webHeaders(call.response ?? {});
    },
    get trailer() {
      return webHeaders(call.trailers ?? {});
    },
  };
}

/** A call's request: its gRPC frame and its headers. */
function request<I extends DescMessage>(method: DescMethodUnary<I> | DescMethodServerStreaming<I>, timeoutMs: number | undefined, header: HeadersArg, extra: () => Record<string, string>, input: MessageInitShape<I>) {
  const timeout = timeoutMs !== undefined && timeoutMs > 0 ? timeoutMs : undefined;
  let body: Uint8Array;
  try {
    body = toBinary(method.input, isMessage(input, method.input) ? input : create(method.input, input));
  } catch (err) {
    throw ConnectError.from(err, Code.Internal);
  }
  const frame = Buffer.allocUnsafe(5 + body.length);
  frame[0] = 0;
  frame.writeUInt32BE(body.length, 1);
  frame.set(body, 5);
  // The user agent connect's client streams send too: one client, as the server's logs see it.
  const head: http2.OutgoingHttpHeaders = { 'content-type': 'application/grpc+proto', 'user-agent': 'connect-es/2.1.2', te: 'trailers' };
  if (header) new Headers(header).forEach((value, key) => (head[key] = value));
  Object.assign(head, extra());
  if (timeout !== undefined) head['grpc-timeout'] = `${timeout}m`;
  return { timeout, head, frame };
}
