import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { toConnectError } from './errors.js';
import { ObservedStream, type StreamHooks } from './observed-stream.js';

/** Errors Node raises when writing to a stream whose client has already gone. */
const CLIENT_GONE = new Set(['ERR_STREAM_DESTROYED', 'ERR_HTTP2_INVALID_STREAM', 'ERR_HTTP2_STREAM_CANCEL', 'ERR_STREAM_PREMATURE_CLOSE', 'ECONNRESET', 'EPIPE']);

/** A client that leaves with a stream open is no server fault: nothing to log, nobody to tell. */
function clientGone(err: unknown, signal: AbortSignal): boolean {
  if (err instanceof ConnectError) return false;
  const code = (err as { code?: unknown } | null)?.code;
  return signal.aborted || (typeof code === 'string' && CLIENT_GONE.has(code));
}

/**
 * Every error leaves the server as a ConnectError with a precise code; unexpected ones become
 * Internal with a generic message and are logged, so no stack trace reaches a client.
 */
export function errorInterceptor(log: (msg: string, err?: unknown) => void): Interceptor {
  const map = (err: unknown, signal: AbortSignal) =>
    clientGone(err, signal) ? new ConnectError('the client closed the call', Code.Canceled) : toConnectError(err, log);
  // Shared by every stream: the call's signal is the only state a stream needs.
  const hooks: StreamHooks<AbortSignal> = { error: map };
  return (next) => async (req) => {
    try {
      const res = await next(req);
      if (!res.stream) return res;
      return { ...res, message: new ObservedStream(res.message, hooks, req.signal) };
    } catch (err) {
      throw map(err, req.signal);
    }
  };
}
