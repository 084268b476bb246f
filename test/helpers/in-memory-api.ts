import { createClient, createRouterTransport, Code, ConnectError } from '@connectrpc/connect';
import type { UpdateJobStateRequest } from '../../gen/edge/v1/worker_service_pb.js';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import { LogService } from '../../gen/edge/v1/log_service_pb.js';
import { TokenService } from '../../gen/edge/v1/token_service_pb.js';
import { WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import type { Api, ApiSource } from '../../worker-cli/src/lib/api.js';

/**
 * The part of the API server the worker's job runner and log uploader talk to, in memory: real
 * clients and protobuf messages over Connect's in-memory router transport (no socket, no process).
 * Tests read what it stored and make it fail on purpose.
 */
export class InMemoryWorkerApi implements ApiSource {
  /** Stored log bytes per `jobId/attempt`. */
  readonly logs = new Map<string, Buffer>();
  readonly reports: UpdateJobStateRequest[] = [];
  /** The log size each state report found stored when it arrived. */
  readonly logSizeAtReport: number[] = [];
  /** ReportJobStates calls received, and how many reports each carried. */
  readonly reportCalls: number[] = [];
  /** Hold every ReportJobStates call until this resolves (tests open and close the gate). */
  gate: Promise<void> | undefined;
  /** UploadLogs streams opened, and chunks received. */
  streams = 0;
  chunks = 0;
  /** Bytes received that were stored already (sent again). */
  resentBytes = 0;
  /** Fail the next N UploadLogs streams with Unavailable after storing their first chunk. */
  breakStreams = 0;
  /** Fail the next N state reports with Unavailable (a server that is briefly away). */
  failReports = 0;
  /** Refuse the reports of these jobs only (FailedPrecondition: a stale attempt). */
  readonly refuseJobs = new Set<string>();
  /** Refuse logs and reports with this code (the attempt was taken back). */
  refuse: Code | undefined;
  readonly api: Api;

  constructor() {
    const transport = createRouterTransport((router) => {
      router.service(WorkerService, {
        updateJobState: (req) => {
          this.takeCall();
          this.apply(req);
          return {};
        },
        // As the server: each report checked and applied on its own, one result each, in order.
        reportJobStates: async (req) => {
          await this.gate;
          this.takeCall();
          this.reportCalls.push(req.reports.length);
          return {
            results: req.reports.map((r) => {
              try {
                this.apply(r);
                return { result: { case: 'job' as const, value: { id: r.jobId } } };
              } catch (err) {
                const e = ConnectError.from(err);
                return { result: { case: 'error' as const, value: { code: e.code, message: e.rawMessage } } };
              }
            }),
          };
        },
      });
      router.service(LogService, {
        uploadLogs: async (reqs) => {
          this.streams++;
          const breaking = this.breakStreams > 0;
          if (breaking) this.breakStreams--;
          let key = '';
          for await (const r of reqs) {
            if (this.refuse !== undefined) throw new ConnectError('attempt taken back', this.refuse);
            this.chunks++;
            key = `${r.jobId}/${r.attempt}`;
            const have = this.logs.get(key) ?? Buffer.alloc(0);
            const offset = Number(r.offset);
            if (offset > have.length) throw new ConnectError(`offset ${offset} is past the stored ${have.length} bytes`, Code.OutOfRange);
            this.resentBytes += Math.max(0, Math.min(r.data.length, have.length - offset));
            // Idempotent by offset, as the server: bytes already stored are not stored twice.
            this.logs.set(key, Buffer.concat([have, r.data.subarray(have.length - offset)]));
            if (breaking) throw new ConnectError('connection lost', Code.Unavailable);
          }
          const [jobId, attempt] = key.split('/');
          return { sizes: key ? [{ jobId, attempt: Number(attempt), size: BigInt(this.logs.get(key)!.length) }] : [] };
        },
        readLogs: (req) => ({ attempt: req.attempt, size: BigInt(this.log(req.jobId, req.attempt).length) }),
      });
    });
    this.api = {
      url: 'in-memory',
      jobs: createClient(JobService, transport),
      workers: createClient(WorkerService, transport),
      logs: createClient(LogService, transport),
      tokens: createClient(TokenService, transport),
      close() {},
    };
  }

  /** A call that fails as a whole (the server away) while failReports lasts. */
  private takeCall(): void {
    if (this.failReports > 0) {
      this.failReports--;
      throw new ConnectError('server away', Code.Unavailable);
    }
  }

  private apply(req: UpdateJobStateRequest): void {
    if (this.refuse !== undefined) throw new ConnectError('attempt 1 is no longer held by this worker', this.refuse);
    if (this.refuseJobs.has(req.jobId)) throw new ConnectError(`attempt ${req.attempt} of job ${req.jobId} is not held by this worker`, Code.FailedPrecondition);
    if (req.log.length) {
      const have = this.log(req.jobId, req.attempt);
      const offset = Number(req.logOffset);
      if (offset > have.length) throw new ConnectError(`log_offset ${offset} is past the stored ${have.length} bytes`, Code.OutOfRange);
      this.logs.set(`${req.jobId}/${req.attempt}`, Buffer.concat([have, Buffer.from(req.log).subarray(have.length - offset)]));
    }
    this.reports.push(req);
    this.logSizeAtReport.push(this.log(req.jobId, req.attempt).length);
  }

  log(jobId: string, attempt: number): Buffer {
    return this.logs.get(`${jobId}/${attempt}`) ?? Buffer.alloc(0);
  }
}
