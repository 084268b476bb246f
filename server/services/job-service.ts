import type { ServiceImpl } from '@connectrpc/connect';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import type { JobStateName } from '../store/records.js';
import { jobStateFromWire, jobToWire } from './convert.js';
import type { ServiceContext } from './context.js';
import { invalid, notFound } from './errors.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { checkId, checkJobSpec, checkPageSize, checkQueue, checkWorkerName } from './validate.js';

export function jobService(ctx: ServiceContext): ServiceImpl<typeof JobService> {
  const { store, dispatcher, now } = ctx;
  return {
    async submitJob(req) {
      const spec = checkJobSpec(req.spec);
      // Fast path: an idle connected worker takes the job in the transaction that stores it.
      const candidates = dispatcher.candidates(spec.queue);
      if (candidates.length) {
        const { job, assignment } = await store.submitAndAssign(spec, now(), candidates);
        if (assignment) await dispatcher.deliverAssigned(assignment);
        else dispatcher.wakeQueue(job.queue);
        return { job: jobToWire(job) };
      }
      const job = await store.submitJob(spec, now());
      dispatcher.wakeQueue(job.queue);
      return { job: jobToWire(job) };
    },

    async getJob(req) {
      const id = checkId('id', req.id);
      const job = await store.getJob(id);
      if (!job) throw notFound(`job ${id}`);
      return { job: jobToWire(job) };
    },

    async listJobs(req) {
      const limit = checkPageSize(req.pageSize);
      const states = req.states.map((s, i) => {
        const name = jobStateFromWire(s);
        if (!name) throw invalid(`states[${i}] is not a job state`);
        return name;
      }) as JobStateName[];
      const filters = {
        queue: req.queue ? checkQueue('queue', req.queue) : undefined,
        states: states.length ? states : undefined,
        workerName: req.workerName ? checkWorkerName('worker_name', req.workerName) : undefined,
      };
      const beforeId = decodePageToken(req.pageToken, filters);
      const jobs = await store.listJobs({ ...filters, beforeId, limit: limit + 1 });
      const page = jobs.slice(0, limit);
      return {
        jobs: page.map(jobToWire),
        nextPageToken: jobs.length > limit ? encodePageToken(page[page.length - 1]!.id, filters) : '',
      };
    },

    async cancelJob(req) {
      const id = checkId('id', req.id);
      const outcome = await store.cancelJob(id, now());
      const job = outcome.job;
      if (outcome.kind === 'requested' && job.workerName) {
        dispatcher.cancel(job.workerName, job.id, job.attempt, 'canceled by user');
      }
      ctx.jobEvents.notify(job.id);
      return { job: jobToWire(job) };
    },
  };
}

