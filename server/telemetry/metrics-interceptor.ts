import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import type { ServerMetrics } from './server-metrics.js';

/** Counts every RPC by outcome; streams count when they end. */
export function metricsInterceptor(metrics: ServerMetrics): Interceptor {
  return (next) => async (req) => {
    const service = req.service.typeName;
    const method = req.method.name;
    const fail = (err: unknown) => {
      metrics.rpc(service, method, Code[ConnectError.from(err).code] ?? 'Unknown');
      return err;
    };
    let res;
    try {
      res = await next(req);
    } catch (err) {
      throw fail(err);
    }
    if (!res.stream) {
      metrics.rpc(service, method, 'OK');
      return res;
    }
    const messages = res.message;
    return {
      ...res,
      message: (async function* () {
        try {
          yield* messages;
          metrics.rpc(service, method, 'OK');
        } catch (err) {
          throw fail(err);
        }
      })(),
    };
  };
}
