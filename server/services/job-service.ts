import { SubmitBatcher, submitOne } from '../core/submit.js';
import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { principalOf, seesTeam, teamOf } from '../auth/context.js';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import { EventReader } from '../dispatch/event-reader.js';
import type { JobStateName } from '../domain/records.js';
import { attemptToWire, jobEventToWire, jobStateFromWire, jobToWire, queueStatsToWire } from './convert.js';
import type { ServiceContext } from './context.js';
import { invalid, notFound } from './errors.js';
import { decodePageToken, encodePageToken } from './page-token.js';
import { checkId, checkJobSpec, checkPageSize, checkQueue, checkWorkerName } from './validate.js';
import { explainWaiting } from '../core/waiting-reasons.js';
import { DEFAULT_STREAM_KEEPALIVE_MS } from './context.js';
import type { JobSpec } from '../../gen/edge/v1/job_pb.js';
import type { JobSpecRecord } from '../domain/records.js';

const MAX_BATCH = 1000;
/** How long a watch waits for news before it looks at the log again on its own. */
const WATCH_RECHECK_MS = 1000;

export function jobService(ctx: ServiceContext): ServiceImpl<typeof JobService> {
  const { store, dispatcher, now } = ctx;
  const keepaliveMs = ctx.streamKeepaliveMs ?? DEFAULT_STREAM_KEEPALIVE_MS;
  const submits = new SubmitBatcher(store);
  /** A job the caller may see: another team's job is NotFound, as if it did not exist. */
  async function visibleJob(id: string, hctx: HandlerContext) {
    const job = await store.getJob(id);
    if (!job || !seesTeam(principalOf(hctx), job.team ?? '')) throw notFound(`job ${id}`);
    return job;
  }
  /** A checked spec with its secret values sealed: from here on only the sealed form exists. */
  function sealed(spec: JobSpecRecord, wire: JobSpec | undefined): JobSpecRecord {
    if (!spec.secretEnvNames?.length) return spec;
    if (!ctx.secretBox) {
      throw new ConnectError('this server has no key for job secrets: start it with EDGE_SECRET_KEY or a --data-dir to keep a key file in', Code.FailedPrecondition);
    }
    return { ...spec, sealedSecretEnv: ctx.secretBox.seal(wire!.secretEnv) };
  }
  return {
    async submitJob(req, hctx) {
      // The team comes from the credential, never from the request.
      const spec = { ...sealed(checkJobSpec(req.spec), req.spec), team: teamOf(principalOf(hctx)) };
      return { job: jobToWire(await submitOne(store, dispatcher, submits, spec, now())) };
    },

    async submitJobs(req, hctx) {
      if (req.specs.length === 0) throw invalid('specs is empty: give at least one job');
      if (req.specs.length > MAX_BATCH) throw invalid(`specs has ${req.specs.length} jobs; the limit is ${MAX_BATCH}`);
      const team = teamOf(principalOf(hctx));
      const specs = req.specs.map((s, i) => ({ ...sealed(checkJobSpec(s, `specs[${i}]`), s), team }));
      const jobs = await store.submitJobs(specs, now());
      return { jobs: jobs.map(jobToWire) };
    },

    async getJob(req, hctx) {
      const id = checkId('id', req.id);
      const job = await visibleJob(id, hctx);
      const [explained] = await explainWaiting(store, [job]);
      return { job: jobToWire(explained!) };
    },

    async listJobs(req, hctx) {
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
        team: principalOf(hctx).team,
      };
      const beforeId = decodePageToken(req.pageToken, filters);
      const jobs = await store.listJobs({ ...filters, beforeId, limit: limit + 1 });
      const page = await explainWaiting(store, jobs.slice(0, limit));
      return {
        jobs: page.map(jobToWire),
        nextPageToken: jobs.length > limit ? encodePageToken(page[page.length - 1]!.id, filters) : '',
      };
    },

    async cancelJob(req, hctx) {
      const id = checkId('id', req.id);
      await visibleJob(id, hctx);
      // The cancel reaches the job's worker once, through the change log, on whichever replica holds its stream.
      const { job } = await store.cancelJob(id, now());
      return { job: jobToWire(job) };
    },

    async listJobAttempts(req, hctx) {
      const id = checkId('job_id', req.jobId);
      const limit = checkPageSize(req.pageSize);
      const after = Number(decodePageToken(req.pageToken, { id }) ?? 0);
      await visibleJob(id, hctx);
      const all = (await store.listAttempts(id)).filter((a) => a.attempt > after);
      const page = all.slice(0, limit);
      return {
        attempts: page.map(attemptToWire),
        nextPageToken: all.length > limit ? encodePageToken(String(page[page.length - 1]!.attempt), { id }) : '',
      };
    },

    async *watchJobs(req, handlerCtx) {
      if (req.jobIds.length > MAX_BATCH) throw invalid(`job_ids has ${req.jobIds.length} ids; the limit is ${MAX_BATCH}`);
      const filter = {
        queue: req.queue ? checkQueue('queue', req.queue) : undefined,
        jobIds: req.jobIds.map((id, i) => checkId(`job_ids[${i}]`, id)),
      };
      const last = await store.lastEventSeq();
      const start = req.cursor === '' ? last : parseCursor(req.cursor);
      // A cursor past the newest change was never issued here (another database, or made up): a watch
      // from it would wait silently for numbers this log may never reach. An empty log (all purged)
      // has nothing to compare with.
      if (last > 0 && start > last) throw invalid(`cursor ${start} is past the newest change (${last}); resume from a cursor this server sent, or "" for now`);
      const reader = new EventReader(store, start, filter);
      const signal = handlerCtx.signal;
      // A team's token sees the changes of its team's jobs only.
      const principal = principalOf(handlerCtx);
      const teams = new Map<string, string>();
      const visible = async (jobId: string) => {
        if (principal.team === undefined) return true;
        if (!teams.has(jobId)) teams.set(jobId, (await store.getJob(jobId))?.team ?? '');
        if (teams.size > 10_000) teams.clear();
        return teams.get(jobId) === principal.team;
      };
      // The first message tells a client that asked for "now" which cursor that was.
      // It also tells every client the stream is live.
      yield { events: [], cursor: String(start) };
      let reported = start;
      let sentAt = Date.now();
      while (!signal.aborted) {
        const all = await reader.next();
        const events = [];
        for (const e of all) if (await visible(e.jobId)) events.push(e);
        // A quiet watch still says something now and then (with the cursor it has reached), so proxies
        // and NATs see traffic and the client knows the stream is alive.
        if (events.length || reader.cursor - reported >= 1000 || Date.now() - sentAt >= keepaliveMs) {
          reported = reader.cursor;
          sentAt = Date.now();
          yield { events: events.map(jobEventToWire), cursor: String(reader.cursor) };
          continue;
        }
        await ctx.feed.waitForNews(Math.min(WATCH_RECHECK_MS, keepaliveMs), signal);
      }
    },

    async listQueueStats(req, hctx) {
      if (principalOf(hctx).team !== undefined) {
        throw new ConnectError('queue statistics span every team; ask with an admin token of no team', Code.PermissionDenied);
      }
      const limit = checkPageSize(req.pageSize);
      const after = decodePageToken(req.pageToken, {});
      const all = await store.queueStats();
      const rest = after === undefined ? all : all.filter((q) => q.queue > after);
      const page = rest.slice(0, limit);
      return {
        queues: page.map(queueStatsToWire),
        nextPageToken: rest.length > limit ? encodePageToken(page[page.length - 1]!.queue, {}) : '',
      };
    },
  };
}

function parseCursor(cursor: string): number {
  if (!/^\d{1,15}$/.test(cursor)) throw invalid(`cursor "${cursor.slice(0, 40)}" is not a cursor this server issued`);
  return Number(cursor);
}

