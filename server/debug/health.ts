import { Code, ConnectError, type ConnectRouter } from '@connectrpc/connect';
import { Health, HealthCheckResponse_ServingStatus as Status } from '../../gen/grpc/health/v1/health_pb.js';

/**
 * grpc.health.v1 for load balancers and orchestrators: the server as a whole ("") and each named
 * service are SERVING while the server runs; Watch sends the status, then holds until the call ends
 * (statuses here change only by the process ending).
 */
export function registerHealth(router: ConnectRouter, serviceNames: string[]): void {
  const known = new Set(['', ...serviceNames, Health.typeName]);
  router.service(Health, {
    async check(req) {
      if (!known.has(req.service)) throw new ConnectError(`service ${req.service} is not served here`, Code.NotFound);
      return { status: Status.SERVING };
    },
    async *watch(req, ctx) {
      yield { status: known.has(req.service) ? Status.SERVING : Status.SERVICE_UNKNOWN };
      await new Promise<void>((resolve) => {
        if (ctx.signal.aborted) resolve();
        ctx.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    },
  });
}
