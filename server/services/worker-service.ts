import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { principalOf, requireSelf, seesTeam, teamOf } from '../auth/context.js';
import { generateToken, hashToken } from '../auth/tokens.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { create } from '@bufbuild/protobuf';
import { JobReportResultSchema, MaintenanceChange, WorkerService, type FetchJobsResponse, type JobReportResult, type UpdateJobStateRequest } from '../../gen/edge/v1/worker_service_pb.js';
import type { Channel } from '../dispatch/channel.js';
import type { WorkerPush } from '../domain/worker-push.js';
import { VERSION } from '../../shared/version.js';
import { acceptedVersions, versionProblem } from '../../shared/versions.js';
import { REPORTABLE_WORKER_STATES, wentOfflineMessage } from '../domain/worker-states.js';
import { REPORTABLE_JOB_STATES, reportShapeProblem } from '../domain/job-transitions.js';
import { DEFAULT_QUEUE } from '../../shared/names.js';
import type { JobRecord, JobReport, WorkerRecord } from '../domain/records.js';
import { jobStateFromWire, jobToWire, systemInfoFromWire, workerPushToWire, workerSettings, workerStateFromWire, workerToWire } from './convert.js';
import { pushWorkerChange, workerWentOffline } from '../core/worker-changes.js';
import { assignmentSecrets } from '../core/assignment-secrets.js';
import { BatchedLookup } from '../core/batched-lookup.js';
import type { ServiceContext } from './context.js';
import { invalid, notFound, toConnectError } from './errors.js';
import { DEFAULT_MAX_LOG_BYTES } from './log-service.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { checkId, checkPageSize, checkQueue, checkRange, checkWorkerName } from './validate.js';

const wentOffline = (name: string) =>
  new ConnectError(wentOfflineMessage(name), Code.FailedPrecondition);

/** Reports one ReportJobStates call may carry. */
export const MAX_REPORTS = 1000;
/** Output a report may carry (the rest of a short job's log); more goes through UploadLogs. */
export const MAX_REPORT_LOG_BYTES = 64 * 1024;

const notRegistered = (name: string) =>
  new ConnectError(`worker ${name} is not registered; call RegisterWorker first`, Code.NotFound);

/** The indexes of a call's reports in rounds: each job's first report in the first, its second in the next, … */
function reportRounds(reports: { jobId: string }[]): number[][] {
  const seen = new Map<string, number>();
  const rounds: number[][] = [];
  reports.forEach((r, i) => {
    const k = seen.get(r.jobId) ?? 0;
    seen.set(r.jobId, k + 1);
    (rounds[k] ??= []).push(i);
  });
  return rounds;
}

export function workerService(ctx: ServiceContext): ServiceImpl<typeof WorkerService> {
  const { store, dispatcher, now } = ctx;
  const maxLogBytes = ctx.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES;
  /** The worker behind each FetchJobs stream that opens, read with those of the streams opening with it. */
  const streamWorkers = new BatchedLookup((names: string[]) => store.workerRows(names));
  /** A worker the caller may see: another team's worker is NotFound; a worker token sees only itself. */
  async function visibleWorker(name: string, hctx: HandlerContext, field = 'name') {
    const p = principalOf(hctx);
    requireSelf(p, name, field);
    const worker = await store.getWorker(name);
    if (!worker || !seesTeam(p, worker.team)) throw notFound(`worker ${name}`);
    return worker;
  }
  /**
   * A job a worker may report on: one of its team's that this worker holds or once held. The store
   * checks this in the report's own transaction; this slower check runs only before refusing a
   * malformed report, so that a job that is not the worker's always gets the same PermissionDenied
   * (a worker token learns nothing of job ids, whatever it sends).
   */
  async function reportableJob(jobId: string, workerName: string, hctx: HandlerContext) {
    const p = principalOf(hctx);
    const job = await store.getJob(jobId);
    const worker = await store.getWorker(workerName);
    const mine =
      job &&
      worker &&
      seesTeam(p, job.team ?? '') &&
      (job.team ?? '') === worker.team &&
      (job.workerName === workerName || (await store.listAttempts(jobId)).some((a) => a.workerName === workerName));
    if (!mine) throw new ConnectError(`job ${jobId} is not assigned to worker ${workerName}`, Code.PermissionDenied);
  }
  /**
   * One worker's report on a job it holds (UpdateJobState, or one of a ReportJobStates call, whose
   * fields are named with `field`): checked, then its output stored; what the store is to apply.
   */
  async function prepareReport(req: UpdateJobStateRequest, hctx: HandlerContext, field = ''): Promise<JobReport> {
    const workerName = callingWorker(req.workerName, hctx, `${field}worker_name`);
    const jobId = checkId(`${field}job_id`, req.jobId);
    let checked: ReturnType<typeof checkReport>;
    try {
      checked = checkReport(req, field);
      checkEndExtras(req, checked.state, field);
    } catch (err) {
      // A job that is not the worker's gets PermissionDenied, whatever else is wrong with the report.
      await reportableJob(jobId, workerName, hctx);
      throw err;
    }
    const { attempt, state, report } = checked;
    if (req.log.length || req.logOffset) {
      // Stored before the end, fenced by the holder like UploadLogs: a job never ends without its output.
      try {
        await store.appendLog(jobId, attempt, Number(req.logOffset), req.log, workerName);
      } catch (err) {
        await reportableJob(jobId, workerName, hctx);
        throw err;
      }
      ctx.publisher.logWritten(jobId);
    }
    const p = principalOf(hctx);
    // The store checks, in the report's own transaction, that the job is this worker's to report on.
    const caller = { seesTeam: p.team, workerTeam: p.kind === 'worker' ? teamOf(p) : undefined };
    return { jobId, attempt, workerName, ...report, state, reason: req.reason.slice(0, 4096), ranForMs: req.ranForMs ?? null, caller };
  }
  /**
   * Report-and-claim: the claims for the slots these reports free join the write path right behind
   * them, so all commit together and each worker's next job is on its way with the answer.
   */
  function claimBehind(reports: JobReport[]): void {
    for (const name of new Set(reports.filter((r) => r.state !== 'RUNNING').map((r) => r.workerName))) dispatcher.wakeWorker(name);
  }
  /** The job as the reporting worker hears of it once its report is applied. */
  function reportedJob(report: JobReport, job: JobRecord): JobRecord {
    if (report.state === 'RUNNING' && job.state === 'CANCELED') {
      // The cancel was stored first and wins: the job is over, the process must not run.
      throw new ConnectError(`job ${job.id} was canceled before it started; do not run it`, Code.FailedPrecondition);
    }
    if ((report.state === 'RUNNING' || report.ranForMs !== null) && job.startedAt !== null) ctx.metrics?.jobStarted(job.queue, job.startedAt - job.createdAt);
    return job;
  }
  /** What only an end may carry (its run time, its output), checked. */
  function checkEndExtras(req: UpdateJobStateRequest, state: string, field: string): void {
    const ends = state === 'SUCCEEDED' || state === 'FAILED' || state === 'CANCELED';
    if (req.ranForMs !== undefined && !ends && state !== 'RUNNING') throw invalid(`${field}ran_for_ms goes only with RUNNING or an end (SUCCEEDED, FAILED, CANCELED)`);
    if (!req.log.length && !req.logOffset) return;
    if (!ends) throw invalid(`${field}log goes only with an end (SUCCEEDED, FAILED, CANCELED); stream output with UploadLogs`);
    if (req.log.length > MAX_REPORT_LOG_BYTES) {
      throw new ConnectError(`${field}log holds ${req.log.length} bytes; the limit on a report is ${MAX_REPORT_LOG_BYTES}: stream it with UploadLogs`, Code.ResourceExhausted);
    }
    if (req.logOffset < 0n || req.logOffset > BigInt(maxLogBytes - req.log.length)) {
      throw new ConnectError(`${field}log_offset ${req.logOffset}: the log of an attempt holds at most ${maxLogBytes} bytes`, Code.ResourceExhausted);
    }
  }
  /** The worker a call is about: the name it gives, or the one its worker token names. */
  function callingWorker(given: string, hctx: HandlerContext, field = 'worker_name'): string {
    const p = principalOf(hctx);
    const name = given === '' && p.kind === 'worker' ? p.workerName : checkWorkerName(field, given);
    requireSelf(p, name, field);
    return name;
  }
  return {
    async getServerVersion() {
      return { version: VERSION, accepts: acceptedVersions(VERSION) };
    },

    async registerWorker(req, hctx) {
      const name = checkWorkerName('name', req.name);
      const principal = principalOf(hctx);
      requireSelf(principal, name, 'name');
      const queues = req.queues.length ? req.queues.map((q, i) => checkQueue(`queues[${i}]`, q)) : [DEFAULT_QUEUE];
      if (queues.length > 256) throw invalid(`queues has ${queues.length} items; the limit is 256`);
      const concurrency = checkRange('concurrency', req.concurrency, 1, 1024);
      if (!req.version || req.version.length > 64) throw invalid('version is required (at most 64 characters)');
      const problem = versionProblem(req.version, VERSION);
      if (problem) throw new ConnectError(problem, Code.FailedPrecondition);
      const fresh = principal.kind === 'registration';
      const at = now();
      const worker = await store.registerWorker(
        {
          name,
          queues: [...new Set(queues)],
          concurrency,
          version: req.version,
          systemInfo: systemInfoFromWire(req.systemInfo),
          team: teamOf(principal),
          // With a registration secret, a name a live worker holds is refused; its own token may register again.
          refuseIfLiveSince: fresh ? at - (ctx.workerTimeoutMs ?? 5 * ctx.heartbeatIntervalSeconds * 1000) : undefined,
        },
        at,
      );
      ctx.heartbeats.forget(name);
      let workerToken = '';
      if (fresh) {
        workerToken = generateToken('worker');
        await store.createToken({ kind: 'worker', name: `worker ${name}`, team: teamOf(principal), workerName: name, hash: await hashToken(store, workerToken) }, at);
      }
      return { worker: workerToWire(worker), heartbeatIntervalSeconds: ctx.heartbeatIntervalSeconds, settings: workerSettings(worker), workerToken };
    },

    fetchJobs(req, handlerCtx) {
      // A bare iterator rather than an async generator: the server holds one per connected worker.
      return new PushStream(async () => {
        const name = callingWorker(req.workerName, handlerCtx);
        const worker = await streamWorkers.get(name);
        if (!worker) throw notRegistered(name);
        if (worker.state === 'OFFLINE') throw wentOffline(name);
        // A new stream may be a new run of the worker: its heartbeats read the store again.
        ctx.heartbeats.forget(name);
        return { name, channel: dispatcher.connect(name, worker.queues, handlerCtx.signal) };
      }, async (push, name) => {
        // Secret values travel only here, to the worker holding the attempt, read at the moment of sending.
        const secretEnv = push.kind === 'assignment' ? await assignmentSecrets(store, ctx.secretBox, push.assignment, name, now, ctx.log) : undefined;
        if (push.kind === 'assignment' && !secretEnv) return undefined;
        return workerPushToWire(push, secretEnv);
      });
    },

    async heartbeat(req, hctx) {
      const name = callingWorker(req.workerName, hctx);
      const reported = workerStateFromWire(req.state);
      if (!reported || !REPORTABLE_WORKER_STATES.includes(reported)) throw invalid(`state must be one of ${REPORTABLE_WORKER_STATES.join(', ')}`);
      if (req.jobs.length > 10_000) throw invalid(`jobs has ${req.jobs.length} items; the limit is 10000`);
      const held = req.jobs.map((j, i) => ({ jobId: checkId(`jobs[${i}].job_id`, j.jobId), attempt: checkRange(`jobs[${i}].attempt`, j.attempt, 1, 1_000_000) }));
      const result = await ctx.heartbeats.beat({ name, reported, held, systemInfo: systemInfoFromWire(req.systemInfo), now: now() });
      if (!result) throw notRegistered(name);
      let { worker } = result;
      // A worker that said goodbye has no stream and runs nothing: it must register before it gets jobs again.
      if (worker.state === 'OFFLINE') worker = await workerWentOffline(store, dispatcher, worker, wentOffline(name), now());
      ctx.metrics?.heartbeat(result.fromMemory ? 'memory' : 'store');
      // Only a heartbeat the store answered can have changed what the worker takes (memory answers those that change nothing).
      if (!result.fromMemory) ctx.publisher.heartbeatSeen(worker);
      return { worker: workerToWire(worker), settings: workerSettings(worker), revokedJobs: result.revoked };
    },

    async updateJobState(req, hctx) {
      const report = await prepareReport(req, hctx);
      const reported = store.reportJob(report, now());
      claimBehind([report]);
      return { job: jobToWire(reportedJob(report, await reported)) };
    },

    async reportJobStates(req, hctx) {
      if (req.reports.length > MAX_REPORTS) throw invalid(`reports has ${req.reports.length} items; the limit is ${MAX_REPORTS}: send the rest in another call`);
      const results: JobReportResult[] = new Array(req.reports.length);
      const refused = (i: number, err: unknown) => {
        const e = toConnectError(err, ctx.log);
        results[i] = create(JobReportResultSchema, { result: { case: 'error', value: { code: e.code, message: e.rawMessage } } });
      };
      // Reports of different jobs are applied together, as one operation of the store; those of one
      // job one after the other, in request order (its second report in the next round).
      for (const round of reportRounds(req.reports)) {
        const prepared: { i: number; report: JobReport }[] = [];
        await Promise.all(
          round.map((i) =>
            prepareReport(req.reports[i]!, hctx, `reports[${i}].`).then(
              (report) => void prepared.push({ i, report }),
              (err) => refused(i, err),
            ),
          ),
        );
        if (!prepared.length) continue;
        prepared.sort((a, b) => a.i - b.i);
        const applied = store.reportJobs(prepared.map((p) => p.report), now());
        claimBehind(prepared.map((p) => p.report));
        let outcomes: (JobRecord | Error)[];
        try {
          outcomes = await applied;
        } catch (err) {
          prepared.forEach((p) => refused(p.i, err));
          continue;
        }
        prepared.forEach((p, k) => {
          const outcome = outcomes[k]!;
          try {
            if (outcome instanceof Error) throw outcome;
            results[p.i] = create(JobReportResultSchema, { result: { case: 'job', value: jobToWire(reportedJob(p.report, outcome)) } });
          } catch (err) {
            refused(p.i, err);
          }
        });
      }
      return { results };
    },

    async listWorkers(req, hctx) {
      const limit = checkPageSize(req.pageSize);
      const after = decodePageToken(req.pageToken, {});
      const states = req.states.map((st, i) => {
        const name = workerStateFromWire(st);
        if (!name) throw invalid(`states[${i}] must be a worker state, not ${WorkerState[st] ?? st}`);
        return name;
      });
      const workers = await store.listWorkers(limit + 1, after, states, principalOf(hctx).team);
      const page = workers.slice(0, limit);
      return {
        workers: page.map((w) => workerToWire(ctx.heartbeats.latest(w))),
        nextPageToken: workers.length > limit ? encodePageToken(page[page.length - 1]!.name, {}) : '',
      };
    },

    async getWorker(req, hctx) {
      const name = checkWorkerName('name', req.name);
      const worker = await visibleWorker(name, hctx);
      return { worker: workerToWire(ctx.heartbeats.latest(worker)) };
    },

    async setWorkerMaintenance(req, hctx) {
      const name = checkWorkerName('name', req.name);
      await visibleWorker(name, hctx);
      const change = MAINTENANCE_CHANGES[req.change];
      if (!change) throw invalid('change must be MAINTENANCE_CHANGE_ENTER, MAINTENANCE_CHANGE_EXIT or MAINTENANCE_CHANGE_COMMENT');
      const comment = req.comment.trim();
      if (comment.length > 1024) throw invalid(`comment is ${comment.length} characters long; the limit is 1024`);
      if (change !== 'exit' && !comment) throw invalid('comment is required: say why the worker goes into maintenance');
      if (req.author.length > 128) throw invalid('author is longer than 128 characters');
      const worker = await store.setWorkerMaintenance({ name, change, comment, author: req.author || 'unknown' }, now());
      return { worker: await pushed(worker) };
    },

    async updateWorker(req, hctx) {
      const name = checkWorkerName('name', req.name);
      await visibleWorker(name, hctx);
      const addQueues = req.addQueues.map((q, i) => checkQueue(`add_queues[${i}]`, q));
      const removeQueues = req.removeQueues.map((q, i) => checkQueue(`remove_queues[${i}]`, q));
      const concurrency = req.concurrency === undefined ? undefined : checkRange('concurrency', req.concurrency, 1, 1024);
      if (!addQueues.length && !removeQueues.length && concurrency === undefined) {
        throw invalid('nothing to change: give add_queues, remove_queues or concurrency');
      }
      const worker = await store.updateWorker({ name, addQueues, removeQueues, concurrency }, now());
      return { worker: await pushed(worker) };
    },

    async shutdownWorker(req, hctx) {
      const name = checkWorkerName('name', req.name);
      await visibleWorker(name, hctx);
      return { worker: await pushed(await store.requestWorkerShutdown(name, now())) };
    },

    async removeWorker(req, hctx) {
      const name = checkWorkerName('name', req.name);
      await visibleWorker(name, hctx);
      const removed = await store.removeWorker(name);
      ctx.heartbeats.forget(name);
      // A forgotten worker's token dies with it: coming back takes the registration secret again.
      await store.revokeWorkerTokens(name, now());
      return { worker: workerToWire(removed) };
    },
  };

  /** Live changes reach the worker's stream at once (core/worker-changes.ts). */
  async function pushed(worker: WorkerRecord) {
    ctx.heartbeats.forget(worker.name);
    await pushWorkerChange(store, dispatcher, worker, now());
    return workerToWire(worker);
  }
}

/**
 * A worker's FetchJobs stream: opens the worker's channel on the first read, then turns what the
 * dispatcher pushes into messages (`toWire` may drop one: undefined).
 */
class PushStream implements AsyncIterable<FetchJobsResponse>, AsyncIterator<FetchJobsResponse> {
  private channel: Channel<WorkerPush> | undefined;
  private name = '';

  constructor(
    private readonly open: () => Promise<{ name: string; channel: Channel<WorkerPush> }>,
    private readonly toWire: (push: WorkerPush, name: string) => Promise<FetchJobsResponse | undefined>,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<FetchJobsResponse> {
    return this;
  }

  async next(): Promise<IteratorResult<FetchJobsResponse>> {
    if (!this.channel) ({ name: this.name, channel: this.channel } = await this.open());
    for (;;) {
      const r = await this.channel.next();
      if (r.done) return { value: undefined, done: true };
      const message = await this.toWire(r.value, this.name);
      if (message) return { value: message, done: false };
    }
  }

  async return(): Promise<IteratorResult<FetchJobsResponse>> {
    await this.channel?.return();
    return { value: undefined, done: true };
  }
}

/** The fields of a report, checked (named with `field` in a ReportJobStates call); throws InvalidArgument. */
function checkReport(req: { attempt: number; state: number; exitCode?: number; signal: string }, field = '') {
  const attempt = checkRange(`${field}attempt`, req.attempt, 1, 1_000_000);
  const state = jobStateFromWire(req.state);
  if (!state) throw invalid(`${field}state must be one of ${REPORTABLE_JOB_STATES.join(', ')}`);
  if (req.signal.length > 32) throw invalid(`${field}signal is longer than 32 characters`);
  const report = { state, exitCode: req.exitCode ?? null, signal: req.signal || null };
  const problem = reportShapeProblem(report);
  if (problem) throw invalid(field ? `${field.slice(0, -1)}: ${problem}` : problem);
  return { attempt, state, report };
}

const MAINTENANCE_CHANGES: Partial<Record<MaintenanceChange, 'enter' | 'exit' | 'comment'>> = {
  [MaintenanceChange.ENTER]: 'enter',
  [MaintenanceChange.EXIT]: 'exit',
  [MaintenanceChange.COMMENT]: 'comment',
};
