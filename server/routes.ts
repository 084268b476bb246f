import type { ConnectRouter } from '@connectrpc/connect';
import { JobService, file_edge_v1_job_service } from '../gen/edge/v1/job_service_pb.js';
import { LogService, file_edge_v1_log_service } from '../gen/edge/v1/log_service_pb.js';
import { WorkerService, file_edge_v1_worker_service } from '../gen/edge/v1/worker_service_pb.js';
import { TokenService, file_edge_v1_token_service } from '../gen/edge/v1/token_service_pb.js';
import { tokenService } from './services/token-service.js';
import { file_grpc_health_v1_health } from '../gen/grpc/health/v1/health_pb.js';
import { file_grpc_reflection_v1_reflection } from '../gen/grpc/reflection/v1/reflection_pb.js';
import { file_grpc_reflection_v1alpha_reflection } from '../gen/grpc/reflection/v1alpha/reflection_pb.js';
import { registerHealth } from './debug/health.js';
import { registerReflection } from './debug/reflection.js';
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
    router.service(TokenService, tokenService(ctx));
    // Standard tools (grpcurl, buf curl, load balancers) need no .proto files: reflection and health.
    registerHealth(router, [JobService.typeName, WorkerService.typeName, LogService.typeName, TokenService.typeName]);
    registerReflection(router, [
      file_edge_v1_job_service,
      file_edge_v1_worker_service,
      file_edge_v1_log_service,
      file_edge_v1_token_service,
      file_grpc_health_v1_health,
      file_grpc_reflection_v1_reflection,
      file_grpc_reflection_v1alpha_reflection,
    ]);
  };
}
