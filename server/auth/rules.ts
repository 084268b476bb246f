import type { Principal } from './authenticate.js';

type Kind = Principal['kind'];

/**
 * Which principals may call which RPC: the one table of the API's permissions. Handlers narrow
 * further (a worker only as itself and on its own jobs; a team only on its team). An RPC of an
 * `edge.` service missing here is refused to everyone; other services (health, reflection) are open.
 */
export const RPC_RULES: Record<string, Record<string, readonly Kind[]>> = {
  'edge.v1.JobService': {
    SubmitJob: ['admin'],
    SubmitJobs: ['admin'],
    GetJob: ['admin'],
    ListJobs: ['admin'],
    CancelJob: ['admin'],
    ListJobAttempts: ['admin'],
    WatchJobs: ['admin'],
    ListQueueStats: ['admin'],
  },
  'edge.v1.WorkerService': {
    // A worker checks the server's version before it registers, with whatever credential it has.
    GetServerVersion: ['registration', 'worker', 'admin'],
    // A registration secret buys a worker token; a worker with its token registers again with it.
    RegisterWorker: ['registration', 'worker'],
    FetchJobs: ['worker'],
    Heartbeat: ['worker'],
    UpdateJobState: ['worker'],
    ReportJobStates: ['worker'],
    ListWorkers: ['admin'],
    GetWorker: ['admin'],
    // `edge maintenance on` on the worker's machine goes through the worker itself.
    SetWorkerMaintenance: ['admin', 'worker'],
    UpdateWorker: ['admin'],
    ShutdownWorker: ['admin'],
    RemoveWorker: ['admin'],
  },
  'edge.v1.LogService': {
    UploadLogs: ['worker'],
    // A worker reads back the size of its own jobs' logs to resume an upload.
    ReadLogs: ['admin', 'worker'],
    TailLogs: ['admin'],
  },
  'edge.v1.TokenService': {
    CreateToken: ['admin'],
    ListTokens: ['admin'],
    RevokeToken: ['admin'],
  },
};

export type Access = { open: true } | { open: false; kinds: readonly Kind[] };

export function accessOf(service: string, method: string): Access {
  const rules = RPC_RULES[service];
  if (!rules) return service.startsWith('edge.') ? { open: false, kinds: [] } : { open: true };
  return { open: false, kinds: rules[method] ?? [] };
}
