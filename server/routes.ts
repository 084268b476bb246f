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

/** The edge.v1 services with their implementations. */
export function edgeServices(ctx: ServiceContext) {
  return [
    [JobService, jobService(ctx)],
    [WorkerService, workerService(ctx)],
    [LogService, logService(ctx)],
    [TokenService, tokenService(ctx)],
  ] as const;
}

/** Registers every service of the API; `services` are edgeServices(ctx), made once per server. */
export function routes(ctx: ServiceContext, services = edgeServices(ctx)) {
  return (router: ConnectRouter) => {
    for (const [service, impl] of services) router.service(service, impl as never);
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
