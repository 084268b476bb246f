import http2 from 'node:http2';
import { Code, ConnectError } from '@connectrpc/connect';
import { codeFromHttpStatus, findTrailerError } from '@connectrpc/connect/protocol-grpc';
import type { Http2SessionManager } from '@connectrpc/connect-node';

/** How lean-calls.ts says what went wrong: the ConnectErrors connect's gRPC transport would give. */

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, NGHTTP2_ENHANCE_YOUR_CALM, NGHTTP2_INADEQUATE_SECURITY, NGHTTP2_HTTP_1_1_REQUIRED, NGHTTP2_NO_ERROR, NGHTTP2_STREAM_CLOSED } = http2.constants;
const GRPC_CONTENT_TYPE = /^application\/grpc(?:\+proto)?(?:;|$)/i;

/** The error an ended call's stream says (as connect's gRPC transport says it); undefined for OK. */
export function statusError(sessions: Http2SessionManager, rstCode: number, response: http2.IncomingHttpHeaders | undefined, trailers: http2.IncomingHttpHeaders | undefined): ConnectError | undefined {
  if (!response) return resetError(rstCode) ?? new ConnectError(`the connection to ${sessions.authority} closed before the server answered`, Code.Unavailable);
  const httpStatus = Number(response[':status']);
  if (httpStatus !== 200) return new ConnectError(`HTTP ${httpStatus}`, codeFromHttpStatus(httpStatus), webHeaders(response));
  const contentType = String(response['content-type'] ?? '');
  if (!GRPC_CONTENT_TYPE.test(contentType)) return new ConnectError(`unsupported content type ${contentType}`, Code.Unknown);
  const status = trailers?.['grpc-status'] ?? response['grpc-status'];
  // Ended without a status: the connection closed under the answer (a replica stopping cuts the calls
  // that outlast its grace). Unavailable, as ResetAwareSessionManager says it, so it is tried again.
  if (status === undefined) return resetError(rstCode) ?? new ConnectError(`the connection to ${sessions.authority} closed before the server ended its answer`, Code.Unavailable);
  if (String(status) === '0') return undefined;
  const err = findTrailerError(webHeaders(trailers ?? response)) ?? new ConnectError(`invalid grpc-status ${String(status)}`, Code.Internal);
  // As connect-es: the error's metadata holds the trailers and the response headers.
  if (trailers) webHeaders(response).forEach((value, key) => err.metadata.append(key, value));
  return err;
}

export function webHeaders(h: http2.IncomingHttpHeaders): Headers {
  const out = new Headers();
  for (const [key, value] of Object.entries(h)) {
    if (key.startsWith(':') || value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) out.append(key, v);
    else out.set(key, String(value));
  }
  return out;
}

export function aborted(signal: AbortSignal): ConnectError {
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

/** As connect-node maps a Node.js error (the cause kept, so a certificate problem can still be told). */
export function fromNodeError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const codes: string[] = [];
  for (let e = err as { code?: unknown; cause?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) if (typeof e.code === 'string') codes.push(e.code);
  const code = codes.some((c) => c === 'ERR_STREAM_WRITE_AFTER_END')
    ? Code.Aborted
    : codes.some((c) => c === 'ERR_STREAM_DESTROYED' || c === 'ERR_HTTP2_INVALID_STREAM' || c === 'ECONNRESET')
      ? Code.Aborted
      : codes.some((c) => c === 'ETIMEDOUT' || c === 'ENOTFOUND' || c === 'EAI_AGAIN' || c === 'ECONNREFUSED')
        ? Code.Unavailable
        : Code.Internal;
  const ce = ConnectError.from(err, code);
  if (ce !== err) ce.cause = err;
  return ce;
}
