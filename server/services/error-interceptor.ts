import type { Interceptor } from '@connectrpc/connect';
import { toConnectError } from './errors.js';

/**
 * Every error leaves the server as a ConnectError with a precise code; unexpected ones become
 * Internal with a generic message and are logged, so no stack trace reaches a client.
 */
export function errorInterceptor(log: (msg: string, err?: unknown) => void): Interceptor {
  return (next) => async (req) => {
    try {
      const res = await next(req);
      if (!res.stream) return res;
      const messages = res.message;
      return {
        ...res,
        message: (async function* () {
          try {
            yield* messages;
          } catch (err) {
            throw toConnectError(err, log);
          }
        })(),
      };
    } catch (err) {
      throw toConnectError(err, log);
    }
  };
}
