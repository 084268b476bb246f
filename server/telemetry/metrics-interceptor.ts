import { Code, ConnectError, type Interceptor } from '@connectrpc/connect';
import { ObservedStream, type StreamHooks } from '../services/observed-stream.js';
import type { ServerMetrics } from './server-metrics.js';

/** Counts every RPC by outcome (streams count when they end) and times the unary ones. */
export function metricsInterceptor(metrics: ServerMetrics): Interceptor {
  const fail = (err: unknown, req: { service: { typeName: string }; method: { name: string } }) => {
    metrics.rpc(req.service.typeName, req.method.name, Code[ConnectError.from(err).code] ?? 'Unknown');
    return err;
  };
  // Shared by every stream: what a stream's end needs is in its request.
  const hooks: StreamHooks<Parameters<typeof fail>[1]> = { done: (req) => metrics.rpc(req.service.typeName, req.method.name, 'OK'), error: fail };
  return (next) => async (req) => {
    const started = req.stream ? 0 : performance.now();
    let res;
    try {
      res = await next(req);
    } catch (err) {
      if (!req.stream) metrics.unaryAnswered(req.service.typeName, req.method.name, performance.now() - started);
      throw fail(err, req);
    }
    if (!res.stream) {
      metrics.unaryAnswered(req.service.typeName, req.method.name, performance.now() - started);
      metrics.rpc(req.service.typeName, req.method.name, 'OK');
      return res;
    }
    return { ...res, message: new ObservedStream(res.message, hooks, req) };
  };
}
