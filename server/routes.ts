import type { ConnectRouter } from '@connectrpc/connect';
import { JobService } from '../gen/edge/v1/job_service_pb.js';
import { LogService } from '../gen/edge/v1/log_service_pb.js';
import { WorkerService } from '../gen/edge/v1/worker_service_pb.js';
import type { ServiceContext } from './services/context.js';
import { jobService } from './services/job-service.js';
import { logService } from './services/log-service.js';
import { workerService } from './services/worker-service.js';

/** Registers every service of the API. */
export function routes(ctx: ServiceContext) {
  return (router: ConnectRouter) => {
    router.service(JobService, jobService(ctx));
    router.service(WorkerService, workerService(ctx));
    router.service(LogService, logService(ctx));
  };
}
