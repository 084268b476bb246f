import http2 from 'node:http2';
import { create, fromBinary, isMessage, toBinary, type DescMessage, type DescMethodUnary, type MessageInitShape } from '@bufbuild/protobuf';
import { Code, ConnectError, type Transport, type UnaryResponse } from '@connectrpc/connect';
import { codeFromHttpStatus, findTrailerError } from '@connectrpc/connect/protocol-grpc';
import type { Http2SessionManager } from '@connectrpc/connect-node';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INADEQUATE_SECURITY, NGHTTP2_HTTP_1_1_REQUIRED, NGHTTP2_NO_ERROR, NGHTTP2_STREAM_CLOSED } = http2.constants;
const GRPC_CONTENT_TYPE = /^application\/grpc(?:\+proto)?(?:;|$)/i;

/**
 * The transport's unary calls made straight on an HTTP/2 stream of the same session manager, the
 * same gRPC bytes on the wire; streaming calls stay with connect-node. connect's pipeline of async
 * iterables, abort controllers and header objects cost a submitting client 0.23–0.56 ms of CPU per
 * `SubmitJob` (bench/tools/worker-cpu.ts --single), four times what the call itself needs, on the
 * machine that also runs the workers and often the server. What callers see is connect's: a
 * ConnectError with the code and message the server sent (details included), DeadlineExceeded for a
 * timeout, Canceled for an abort, Unavailable for a lost connection.
 */
export function withLeanUnary(inner: Transport, sessions: Http2SessionManager, headers: () => Record<string, string>): Transport {
  return {
    unary: (method, signal, timeoutMs, header, input) => leanUnary(sessions, headers, method, signal, timeoutMs, header, input),
    stream: (...args) => inner.stream(...args),
  };
}

async function leanUnary<I extends DescMessage, O extends DescMessage>(
  sessions: Http2SessionManager,
  extra: () => Record<string, string>,
  method: DescMethodUnary<I, O>,
  signal: AbortSignal | undefined,
  timeoutMs: number | undefined,
  header: ConstructorParameters<typeof Headers>[0],
  input: MessageInitShape<I>,
): Promise<UnaryResponse<I, O>> {
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
  // The user agent the streaming calls send too: one client, as the server's logs see it.
  const head: http2.OutgoingHttpHeaders = { 'content-type': 'application/grpc+proto', 'user-agent': 'connect-es/2.1.2', te: 'trailers' };
  if (header) new Headers(header).forEach((value, key) => (head[key] = value));
  Object.assign(head, extra());
  if (timeout !== undefined) head['grpc-timeout'] = `${timeout}m`;
  if (signal?.aborted) throw aborted(signal);
  return new Promise<UnaryResponse<I, O>>((resolve, reject) => {
    let settled = false;
    let stream: http2.ClientHttp2Stream | undefined;
    let response: http2.IncomingHttpHeaders | undefined;
    let trailers: http2.IncomingHttpHeaders | undefined;
    let message: Uint8Array | undefined;
    let pending: Buffer | undefined;
    const fail = (err: ConnectError) => {
      if (settled) return;
      settled = true;
      cleanUp();
      if (stream && !stream.closed) stream.close(err.code === Code.Canceled || err.code === Code.DeadlineExceeded ? NGHTTP2_CANCEL : NGHTTP2_INTERNAL_ERROR);
      reject(err);
    };
    const onAbort = () => fail(aborted(signal!));
    // The deadline and the signal cover opening the connection too (a server that does not answer a connect).
    const timer = timeout === undefined ? undefined : setTimeout(() => fail(new ConnectError('the operation timed out', Code.DeadlineExceeded)), timeout);
    const cleanUp = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    const opened = (s: http2.ClientHttp2Stream) => {
      stream = s;
      if (settled) return void s.close(NGHTTP2_CANCEL);
      s.on('response', (h) => (response = h));
      s.on('trailers', (t) => (trailers = t));
      s.on('data', (chunk: Buffer) => {
        sessions.notifyResponseByteRead(s);
        pending = pending ? Buffer.concat([pending, chunk]) : chunk;
        while (pending.length >= 5) {
          const length = pending.readUInt32BE(1);
          if (pending.length < 5 + length) break;
          if (pending[0]! & 1) return fail(new ConnectError('protocol error: received a compressed message, and no compression was asked for', Code.Internal));
          if (message) return fail(new ConnectError('protocol error: received extra output message for unary method', Code.Unimplemented));
          message = pending.subarray(5, 5 + length);
          pending = pending.subarray(5 + length);
        }
      });
      s.on('error', (err) => {
        // Written to after the server answered and closed: the answer decides.
        if ((err as { code?: string }).code === 'ERR_STREAM_WRITE_AFTER_END' && s.writableEnded) return;
        fail(fromNodeError(err));
      });
      s.on('close', () => {
        if (settled) return;
        try {
          const answer = outcome(sessions, method, s.rstCode, response, trailers, message);
          settled = true;
          cleanUp();
          resolve(answer);
        } catch (err) {
          fail(ConnectError.from(err, Code.Internal));
        }
      });
      s.end(frame);
    };
    sessions.request('POST', `/${method.parent.typeName}/${method.name}`, head, {}).then(opened, (err: unknown) => fail(fromNodeError(err)));
  });
}

/** The call's answer once its stream closed, or the error it ended with (as connect's gRPC transport says it). */
function outcome<I extends DescMessage, O extends DescMessage>(
  sessions: Http2SessionManager,
  method: DescMethodUnary<I, O>,
  rstCode: number,
  response: http2.IncomingHttpHeaders | undefined,
  trailers: http2.IncomingHttpHeaders | undefined,
  message: Uint8Array | undefined,
): UnaryResponse<I, O> {
  if (!response) throw resetError(rstCode) ?? new ConnectError(`the connection to ${sessions.authority} closed before the server answered`, Code.Unavailable);
  const httpStatus = Number(response[':status']);
  if (httpStatus !== 200) throw new ConnectError(`HTTP ${httpStatus}`, codeFromHttpStatus(httpStatus), webHeaders(response));
  const contentType = String(response['content-type'] ?? '');
  if (!GRPC_CONTENT_TYPE.test(contentType)) throw new ConnectError(`unsupported content type ${contentType}`, Code.Unknown);
  const status = trailers?.['grpc-status'] ?? response['grpc-status'];
  if (status === undefined) throw resetError(rstCode) ?? new ConnectError('protocol error: missing status', Code.Internal);
  if (String(status) !== '0') {
    const err = findTrailerError(webHeaders(trailers ?? response)) ?? new ConnectError(`invalid grpc-status ${String(status)}`, Code.Internal);
    // As connect-es: the error's metadata holds the trailers and the response headers.
    if (trailers) webHeaders(response).forEach((value, key) => err.metadata.append(key, value));
    throw err;
  }
  if (!message) throw new ConnectError('protocol error: missing output message for unary method', Code.Unimplemented);
  const output = fromBinary(method.output, message);
  // Header objects only for a caller that asks for them (onHeader, onTrailer).
  return {
    stream: false,
    service: method.parent,
    method,
    message: output,
    get header() {
      return webHeaders(response);
    },
    get trailer() {
      return webHeaders(trailers ?? {});
    },
  };
}

function webHeaders(h: http2.IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [key, value] of Object.entries(h)) {
    if (key.startsWith(':') || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(key, v);
    else out.set(key, String(value));
  }
  return out;
}

function aborted(signal: AbortSignal): ConnectError {
  const reason: unknown = signal.reason;
  if (reason instanceof ConnectError) return reason;
  return new ConnectError(reason instanceof Error ? reason.message : 'This operation was aborted', Code.Canceled);
}

/** As connect-node says it for an HTTP/2 stream reset by the peer (none for NO_ERROR and STREAM_CLOSED). */
function resetError(rstCode: number): ConnectError | undefined {
  if (rstCode === NGHTTP2_NO_ERROR || rstCode === NGHTTP2_STREAM_CLOSED) return undefined;
  const code =
    rstCode === NGHTTP2_REFUSED_STREAM
      ? Code.Unavailable
      : rstCode === NGHTTP2_CANCEL
        ? Code.Canceled
        : rstCode === NGHTTP2_ENHANCE_YOUR_CALM
          ? Code.ResourceExhausted
          : rstCode === NGHTTP2_INADEQUATE_SECURITY || rstCode === NGHTTP2_HTTP_1_1_REQUIRED
            ? Code.PermissionDenied
            : rstCode <= 0xd
              ? Code.Internal
              : undefined;
  return code === undefined ? undefined : new ConnectError(`http/2 stream closed with error code 0x${rstCode.toString(16)}`, code);
}

const ABORTED_CAUSES = new Set(['ERR_STREAM_WRITE_AFTER_END', 'ERR_STREAM_DESTROYED', 'ERR_HTTP2_INVALID_STREAM', 'ECONNRESET']);
const UNAVAILABLE_CAUSES = new Set(['ETIMEDOUT', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNREFUSED']);

/** As connect-node maps a Node.js error (the cause kept, so a certificate problem can still be told). */
function fromNodeError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const codes: string[] = [];
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) if (typeof e.code === 'string') codes.push(e.code);
  const code = codes.some((c) => ABORTED_CAUSES.has(c)) ? Code.Aborted : codes.some((c) => UNAVAILABLE_CAUSES.has(c)) ? Code.Unavailable : Code.Internal;
  const ce = ConnectError.from(err, code);
  if (ce !== err) ce.cause = err;
  return ce;
}
