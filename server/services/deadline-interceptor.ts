import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';

/** Longest a unary call may take on the server, whatever the client asked for. */
export const UNARY_TIMEOUT_MS = 60_000;

/**
 * A unary call that outlasts its time gets DeadlineExceeded, so a stuck call (a lock wait, a slow
 * client) holds no caller for ever. Streams are bounded by idle limits on the connection instead.
 */
export function deadlineInterceptor(timeoutMs = UNARY_TIMEOUT_MS): Interceptor {
  return (next) => async (req) => {
    if (req.stream) return next(req);
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new ConnectError(`the call took longer than ${timeoutMs / 1000} s`, Code.DeadlineExceeded)), timeoutMs);
    });
    try {
      return await Promise.race([next(req), expired]);
    } finally {
      clearTimeout(timer);
    }
  };
}
