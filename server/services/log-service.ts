import type { ServiceImpl } from '@connectrpc/connect';
import { LogService } from '../../gen/edge/v1/log_service_pb.js';
import type { ServiceContext } from './context.js';
import { invalid } from './errors.js';
import { checkId, checkRange } from './validate.js';

const MiB = 1024 * 1024;
/** Largest chunk one UploadLogs message may carry. */
export const MAX_CHUNK_BYTES = 4 * MiB;
/** How long a tail waits for news before looking again (catches writes made through other replicas). */
const TAIL_RECHECK_MS = 500;

function checkOffset(offset: bigint): number {
  if (offset < 0n || offset > BigInt(Number.MAX_SAFE_INTEGER)) throw invalid(`offset must be a non-negative integer, got ${offset}`);
  return Number(offset);
}

export function logService(ctx: ServiceContext): ServiceImpl<typeof LogService> {
  const { store } = ctx;
  return {
    async uploadLogs(requests) {
      const sizes = new Map<string, { jobId: string; attempt: number; size: bigint }>();
      for await (const chunk of requests) {
        const jobId = checkId('job_id', chunk.jobId);
        const attempt = checkRange('attempt', chunk.attempt, 1, 1_000_000);
        const offset = checkOffset(chunk.offset);
        if (chunk.data.length > MAX_CHUNK_BYTES) throw invalid(`data holds ${chunk.data.length} bytes; the limit is ${MAX_CHUNK_BYTES}`);
        const size = await store.appendLog(jobId, attempt, offset, chunk.data);
        sizes.set(`${jobId}/${attempt}`, { jobId, attempt, size: BigInt(size) });
        ctx.jobEvents.notify(jobId);
      }
      return { sizes: [...sizes.values()] };
    },

    async readLogs(req) {
      const jobId = checkId('job_id', req.jobId);
      const attempt = checkRange('attempt', req.attempt, 0, 1_000_000);
      const offset = checkOffset(req.offset);
      const maxBytes = req.maxBytes === 0 ? MiB : checkRange('max_bytes', req.maxBytes, 1, 4 * MiB);
      const r = await store.readLog(jobId, attempt, offset, maxBytes);
      const nextOffset = Math.min(r.size, offset) + r.data.length;
      return { attempt: r.attempt, data: r.data, nextOffset: BigInt(nextOffset), size: BigInt(r.size), complete: r.ended && nextOffset >= r.size };
    },

    async *tailLogs(req, handlerCtx) {
      const jobId = checkId('job_id', req.jobId);
      const follow = req.attempt === 0;
      const attempt = checkRange('attempt', req.attempt, 0, 1_000_000);
      let offset = checkOffset(req.offset);
      let current = attempt;
      const signal = handlerCtx.signal;
      while (!signal.aborted) {
        const r = await store.readLog(jobId, attempt, offset, MiB);
        if (follow && current !== 0 && r.attempt !== current) offset = 0; // a retry started: follow it from its start
        current = r.attempt;
        if (r.data.length) {
          yield { attempt: r.attempt, offset: BigInt(offset), data: r.data };
          offset += r.data.length;
          continue;
        }
        if (offset >= r.size && (follow ? r.jobEnded && r.ended : r.ended)) return;
        await ctx.jobEvents.wait(jobId, TAIL_RECHECK_MS, signal);
      }
    },
  };
}
