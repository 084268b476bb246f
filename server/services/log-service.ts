import { Code, ConnectError, type HandlerContext, type ServiceImpl } from '@connectrpc/connect';
import { principalOf, seesTeam } from '../auth/context.js';
import type { Principal } from '../auth/authenticate.js';
import { LogService } from '../../gen/edge/v1/log_service_pb.js';
import { DEFAULT_STREAM_KEEPALIVE_MS, type ServiceContext } from './context.js';
import { invalid, notFound } from './errors.js';
import { checkId, checkRange } from './validate.js';

const MiB = 1024 * 1024;
/** Largest chunk one UploadLogs message may carry. */
export const MAX_CHUNK_BYTES = 4 * MiB;
/** Largest log one attempt may have; past it uploads are refused (ResourceExhausted). */
export const DEFAULT_MAX_LOG_BYTES = 1024 * MiB;
/** How long a tail waits for news before looking again (catches writes made through other replicas). */
const TAIL_RECHECK_MS = 500;

function checkOffset(offset: bigint): number {
  if (offset < 0n || offset > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`offset must be a non-negative integer, got ${offset}`);
  return Number(offset);
}

export function logService(ctx: ServiceContext): ServiceImpl<typeof LogService> {
  const { store } = ctx;
  const maxLogBytes = ctx.maxLogBytes ?? DEFAULT_MAX_LOG_BYTES;
  const keepaliveMs = ctx.streamKeepaliveMs ?? DEFAULT_STREAM_KEEPALIVE_MS;
  /**
   * The job, when the caller may read its log: a team only its team's (NotFound otherwise). A worker
   * reads only the attempt it holds now (see heldAttempt).
   */
  async function readableJob(jobId: string, hctx: HandlerContext, attempt: number) {
    const p = principalOf(hctx);
    if (p.kind === 'worker') return (await heldAttempt(jobId, attempt, p)).job;
    const job = await store.getJob(jobId);
    if (!job || !seesTeam(p, job.team ?? '')) throw notFound(`job ${jobId}`);
    return job;
  }
  /**
   * Logs are fenced like reports: a worker writes and reads only the attempt it holds now
   * (FailedPrecondition for one it held before). A job it never held, of another worker or team or
   * none at all, gets one PermissionDenied, so a worker token learns nothing of other jobs.
   */
  async function heldAttempt(jobId: string, attempt: number, p: Extract<Principal, { kind: 'worker' }>) {
    const job = await store.getJob(jobId);
    const held =
      job && seesTeam(p, job.team ?? '') && (job.workerName === p.workerName || (await store.listAttempts(jobId)).some((a) => a.workerName === p.workerName));
    if (!held) throw new ConnectError(`job ${jobId} is not assigned to worker ${p.workerName}`, Code.PermissionDenied);
    const n = attempt || job.attempt;
    if (job.workerName !== p.workerName || job.attempt !== n) {
      throw new ConnectError(
        `attempt ${n} of job ${jobId} is not held by worker ${p.workerName} (the job is at attempt ${job.attempt}${job.workerName ? ` on worker ${job.workerName}` : ''})`,
        Code.FailedPrecondition,
      );
    }
    return { job, attempt: n };
  }
  return {
    async uploadLogs(requests, hctx) {
      const sizes = new Map<string, { jobId: string; attempt: number; size: bigint }>();
      const allowed = new Set<string>();
      for await (const chunk of requests) {
        const jobId = checkId('job_id', chunk.jobId);
        const attempt = checkRange('attempt', chunk.attempt, 1, 1_000_000);
        const offset = checkOffset(chunk.offset);
        if (chunk.data.length > MAX_CHUNK_BYTES) {
          throw new ConnectError(`data holds ${chunk.data.length} bytes; the limit is ${MAX_CHUNK_BYTES}`, Code.ResourceExhausted);
        }
        if (offset + chunk.data.length > maxLogBytes) {
          throw new ConnectError(`the log of job ${jobId} attempt ${attempt} would pass ${maxLogBytes} bytes, the limit per attempt`, Code.ResourceExhausted);
        }
        const p = principalOf(hctx);
        const key = `${jobId}/${attempt}`;
        if (!allowed.has(key)) {
          if (p.kind === 'worker') await heldAttempt(jobId, attempt, p);
          else await readableJob(jobId, hctx, attempt);
          allowed.add(key);
        }
        // The store checks the holder again under the job's lock: an attempt taken away mid-stream takes no more bytes.
        const size = await store.appendLog(jobId, attempt, offset, chunk.data, p.kind === 'worker' ? p.workerName : undefined);
        sizes.set(`${jobId}/${attempt}`, { jobId, attempt, size: BigInt(size) });
        ctx.publisher.logWritten(jobId);
      }
      return { sizes: [...sizes.values()] };
    },

    async readLogs(req, hctx) {
      const jobId = checkId('job_id', req.jobId);
      const attempt = checkRange('attempt', req.attempt, 0, 1_000_000);
      await readableJob(jobId, hctx, attempt);
      const offset = checkOffset(req.offset);
      const maxBytes = req.maxBytes === 0 ? MiB : checkRange('max_bytes', req.maxBytes, 1, 4 * MiB);
      const r = await store.readLog(jobId, attempt, offset, maxBytes);
      // Past the end there is nothing yet: the next read starts where this one asked (the log may grow).
      const nextOffset = offset + r.data.length;
      return { attempt: r.attempt, data: r.data, nextOffset: BigInt(nextOffset), size: BigInt(r.size), complete: r.ended && nextOffset >= r.size };
    },

    async *tailLogs(req, handlerCtx) {
      const jobId = checkId('job_id', req.jobId);
      const follow = req.attempt === 0;
      const attempt = checkRange('attempt', req.attempt, 0, 1_000_000);
      await readableJob(jobId, handlerCtx, attempt);
      let offset = checkOffset(req.offset);
      let current = attempt;
      const signal = handlerCtx.signal;
      // The first message says the tail is live; a quiet log still gets a message (no data) now and then.
      let sentAt: number | undefined;
      while (!signal.aborted) {
        const r = await store.readLog(jobId, attempt, offset, MiB);
        if (follow && current !== 0 && r.attempt !== current) offset = 0; // a retry started: follow it from its start
        current = r.attempt;
        if (r.data.length) {
          yield { attempt: r.attempt, offset: BigInt(offset), data: r.data };
          sentAt = Date.now();
          offset += r.data.length;
          continue;
        }
        if (offset >= r.size && (follow ? r.jobEnded && r.ended : r.ended)) return;
        if (sentAt === undefined || Date.now() - sentAt >= keepaliveMs) {
          yield { attempt: r.attempt, offset: BigInt(offset), data: new Uint8Array(0) };
          sentAt = Date.now();
        }
        await ctx.jobEvents.wait(jobId, Math.min(TAIL_RECHECK_MS, keepaliveMs), signal);
      }
    },
  };
}
