import { AsyncLocalStorage } from 'node:async_hooks';
import { Code, ConnectError, createClient, createRouterTransport } from '@connectrpc/connect';
import { principalInterceptor } from '../auth/auth-interceptor.js';
import type { Principal } from '../auth/authenticate.js';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import { LogService } from '../../gen/edge/v1/log_service_pb.js';
import { WorkerState, type Worker } from '../../gen/edge/v1/worker_pb.js';
import { WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import type { QueueStats } from '../../gen/edge/v1/job_service_pb.js';
import { routes } from '../routes.js';
import type { ServiceContext } from '../services/context.js';
import { errorInterceptor } from '../services/error-interceptor.js';
import { drainPages } from '../../shared/paging.js';

/**
 * The API as the pages call it: the services in process, as the signed-in admin. The admin
 * (resolved from the session on every request) goes with every call, so the services apply the
 * same RPC table and team checks as to an API client with that token.
 */
export function pageApi(ctx: ServiceContext, log: (msg: string, err?: unknown) => void) {
  const signedInAs = new AsyncLocalStorage<Principal>();
  const asSession = principalInterceptor(async () => {
    const p = signedInAs.getStore();
    if (!p) throw new ConnectError('sign in first', Code.Unauthenticated);
    return p;
  });
  const transport = createRouterTransport(routes(ctx), { router: { interceptors: [errorInterceptor(log), asSession] } });
  const api = {
    jobs: createClient(JobService, transport),
    workers: createClient(WorkerService, transport),
    logs: createClient(LogService, transport),
  };
  return { api, signedInAs };
}

export type PageApi = ReturnType<typeof pageApi>['api'];

/** Every worker (of one state name, or all when ''). */
export function allWorkers(api: PageApi, state: string): Promise<Worker[]> {
  const wanted = state ? WorkerState[state as keyof typeof WorkerState] : undefined;
  const states = typeof wanted === 'number' ? [wanted] : [];
  return drainPages(async (pageToken) => {
    const r = await api.workers.listWorkers({ pageSize: 1000, pageToken, states });
    return { items: r.workers, next: r.nextPageToken };
  });
}

export function allQueues(api: PageApi): Promise<QueueStats[]> {
  return drainPages(async (pageToken) => {
    const r = await api.jobs.listQueueStats({ pageSize: 1000, pageToken });
    return { items: r.queues, next: r.nextPageToken };
  });
}
