import { Code, ConnectError, type ServiceImpl } from '@connectrpc/connect';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import { DEFAULT_QUEUE } from '../domain/names.js';
import { TERMINAL_JOB_STATES } from '../store/records.js';
import { jobStateFromWire, jobToWire, workerStateFromWire, workerToWire } from './convert.js';
import type { ServiceContext } from './context.js';
import { invalid, notFound } from './errors.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { checkId, checkPageSize, checkQueue, checkRange, checkWorkerName } from './validate.js';

/** States a worker may report of itself in a heartbeat. */
const REPORTABLE_WORKER_STATES = new Set([WorkerState.IDLE, WorkerState.RUNNING, WorkerState.TERMINATING, WorkerState.OFFLINE]);
/** States a worker may report of a job it holds. */
const REPORTABLE_JOB_STATES = new Set([JobState.QUEUED, JobState.RUNNING, JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED]);

const notRegistered = (name: string) =>
  new ConnectError(`worker ${name} is not registered; call RegisterWorker first`, Code.NotFound);

export function workerService(ctx: ServiceContext): ServiceImpl<typeof WorkerService> {
  const { store, dispatcher, now } = ctx;
  return {
    async registerWorker(req) {
      const name = checkWorkerName('name', req.name);
      const queues = req.queues.length ? req.queues.map((q, i) => checkQueue(`queues[${i}]`, q)) : [DEFAULT_QUEUE];
      if (queues.length > 256) throw invalid(`queues has ${queues.length} items; the limit is 256`);
      const concurrency = checkRange('concurrency', req.concurrency, 1, 1024);
      if (!req.version || req.version.length > 64) throw invalid('version is required (at most 64 characters)');
      const worker = await store.registerWorker({ name, queues: [...new Set(queues)], concurrency, version: req.version }, now());
      return { worker: workerToWire(worker), heartbeatIntervalSeconds: ctx.heartbeatIntervalSeconds };
    },

    async *fetchJobs(req, handlerCtx) {
      const name = checkWorkerName('worker_name', req.workerName);
      const worker = await store.getWorker(name);
      if (!worker) throw notRegistered(name);
      yield* dispatcher.connect(name, worker.queues, handlerCtx.signal);
    },

    async heartbeat(req) {
      const name = checkWorkerName('worker_name', req.workerName);
      if (!REPORTABLE_WORKER_STATES.has(req.state)) throw invalid('state must be IDLE, RUNNING, TERMINATING or OFFLINE');
      if (req.jobs.length > 10_000) throw invalid(`jobs has ${req.jobs.length} items; the limit is 10000`);
      const held = req.jobs.map((j, i) => ({ jobId: checkId(`jobs[${i}].job_id`, j.jobId), attempt: checkRange(`jobs[${i}].attempt`, j.attempt, 1, 1_000_000) }));
      const result = await store.heartbeat(name, workerStateFromWire(req.state)!, now(), held);
      if (!result) throw notRegistered(name);
      // A worker that was presumed lost and is back takes jobs again.
      if (req.state === WorkerState.IDLE || req.state === WorkerState.RUNNING) dispatcher.wakeWorker(name);
      return { worker: workerToWire(result.worker), revokedJobs: result.revoked };
    },

    async updateJobState(req) {
      const workerName = checkWorkerName('worker_name', req.workerName);
      const jobId = checkId('job_id', req.jobId);
      const attempt = checkRange('attempt', req.attempt, 1, 1_000_000);
      if (!REPORTABLE_JOB_STATES.has(req.state)) throw invalid('state must be QUEUED, RUNNING, SUCCEEDED, FAILED or CANCELED');
      if (req.signal.length > 32) throw invalid('signal is longer than 32 characters');
      const state = jobStateFromWire(req.state)!;
      const job = await store.reportJob(
        { jobId, attempt, workerName, state, exitCode: req.exitCode ?? null, signal: req.signal || null, reason: req.reason.slice(0, 4096) },
        now(),
      );
      if (state === 'QUEUED') dispatcher.wakeQueue(job.queue);
      if (state === 'QUEUED' || TERMINAL_JOB_STATES.includes(state)) dispatcher.wakeWorker(workerName);
      ctx.jobEvents.notify(jobId);
      ctx.feed.kick();
      return { job: jobToWire(job) };
    },

    async listWorkers(req) {
      const limit = checkPageSize(req.pageSize);
      const after = decodePageToken(req.pageToken, {});
      const workers = await store.listWorkers(limit + 1, after);
      const page = workers.slice(0, limit);
      return {
        workers: page.map(workerToWire),
        nextPageToken: workers.length > limit ? encodePageToken(page[page.length - 1]!.name, {}) : '',
      };
    },

    async getWorker(req) {
      const name = checkWorkerName('name', req.name);
      const worker = await store.getWorker(name);
      if (!worker) throw notFound(`worker ${name}`);
      return { worker: workerToWire(worker) };
    },
  };
}
