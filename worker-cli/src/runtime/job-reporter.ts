import { Code, ConnectError } from '@connectrpc/connect';
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { Job } from '../../../gen/edge/v1/job_pb.js';
import type { UpdateJobStateRequestSchema } from '../../../gen/edge/v1/worker_service_pb.js';
import type { ApiSource } from '../lib/api.js';
import { sleep } from './backoff.js';
import type { Logger } from './logger.js';
import { isRefusal, retryBackoff } from './retry-policy.js';

export type ReportInit = MessageInitShape<typeof UpdateJobStateRequestSchema> & { jobId: string; attempt: number };

/** How a report ended: stored (the job as the server has it now), refused for good, or given up by its sender. */
export type ReportOutcome = { kind: 'stored'; job: Job | undefined } | { kind: 'refused'; error: ConnectError } | { kind: 'dropped' };

/** A report on its way: its outcome, and a way to take it back while it has not been sent. */
export interface PendingReport {
  readonly outcome: Promise<ReportOutcome>;
  /** Removes the report if it has not been sent yet (it then ends 'dropped'); false once it is on the wire. */
  withdraw(): boolean;
}

interface Entry {
  init: ReportInit;
  signal: AbortSignal | undefined;
  resolve(o: ReportOutcome): void;
  sent: boolean;
  done: boolean;
}

export interface JobReporterOptions {
  /** Reports per call at most (the server takes 1000). */
  maxBatch?: number;
  /** Time limit of one call. */
  timeoutMs?: number;
}

/**
 * The worker's state reports, coalesced: one ReportJobStates call at a time carries every report that
 * is waiting, so a busy worker sends one message for many jobs and an idle one sends each report at
 * once (no timer). A call that fails as a whole (server away, timeout) is tried again with backoff,
 * its reports first; each report's own refusal (stale attempt, refused move) ends that report only.
 * Reports of one job keep their order: the server applies those of one call in request order.
 */
export class JobReporter {
  private queue: Entry[] = [];
  private inFlight = false;
  private scheduled = false;
  private readonly backoff = retryBackoff();
  private readonly maxBatch: number;
  private readonly timeoutMs: number;
  private readonly closed = new AbortController();

  constructor(
    private readonly apis: ApiSource,
    private readonly log: Logger,
    opts: JobReporterOptions = {},
  ) {
    this.maxBatch = opts.maxBatch ?? 1000;
    this.timeoutMs = opts.timeoutMs ?? 15_000;
  }

  /** Queues a report; `signal` gives it up (the attempt was taken back). */
  report(init: ReportInit, signal?: AbortSignal): PendingReport {
    let resolve!: (o: ReportOutcome) => void;
    const outcome = new Promise<ReportOutcome>((r) => (resolve = r));
    const entry: Entry = { init, signal, sent: false, done: false, resolve: (o) => ((entry.done = true), resolve(o)) };
    if (signal?.aborted || this.closed.signal.aborted) entry.resolve({ kind: 'dropped' });
    else {
      signal?.addEventListener('abort', () => this.drop(entry), { once: true });
      this.queue.push(entry);
      this.kick();
    }
    return {
      outcome,
      withdraw: () => {
        if (entry.sent || entry.done) return false;
        this.drop(entry);
        return true;
      },
    };
  }

  /** The worker has stopped: reports still waiting (their server unreachable) are given up, none is sent again. */
  close(): void {
    this.closed.abort();
    for (const e of this.queue.splice(0)) e.resolve({ kind: 'dropped' });
  }

  /** Reports waiting or on the wire. */
  get pending(): number {
    return this.queue.length + (this.inFlight ? 1 : 0);
  }

  private drop(entry: Entry): void {
    if (entry.done || entry.sent) return;
    this.queue = this.queue.filter((e) => e !== entry);
    entry.resolve({ kind: 'dropped' });
  }

  /** Sends on the next turn when idle, so the reports of one turn go together. */
  private kick(): void {
    if (this.inFlight || this.scheduled || !this.queue.length) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      void this.send();
    });
  }

  private async send(): Promise<void> {
    if (this.inFlight || !this.queue.length) return;
    this.inFlight = true;
    const batch = this.queue.splice(0, this.maxBatch);
    for (const e of batch) e.sent = true;
    let retry: Entry[] = [];
    try {
      const res = await this.apis.api.workers.reportJobStates({ reports: batch.map((e) => e.init) }, { timeoutMs: this.timeoutMs });
      this.backoff.reset();
      batch.forEach((e, i) => {
        const r = res.results[i]?.result;
        if (r?.case === 'job') return e.resolve({ kind: 'stored', job: r.value });
        const error = r?.case === 'error' ? new ConnectError(r.value.message, r.value.code as Code) : new ConnectError('the server gave no result for this report', Code.Internal);
        if (isRefusal(error)) return e.resolve({ kind: 'refused', error });
        this.log.warn(`could not report job ${e.init.jobId} (${error.rawMessage}); retrying`);
        retry.push(e);
      });
    } catch (err) {
      const error = ConnectError.from(err);
      if (isRefusal(error)) for (const e of batch) e.resolve({ kind: 'refused', error });
      else {
        this.log.warn(`could not report ${batch.length} job state(s) (${error.rawMessage}); retrying`);
        retry = batch;
      }
    }
    if (retry.length) {
      // Back to the front, in their order, unless their sender gave up meanwhile.
      const again = retry.filter((e) => !e.signal?.aborted);
      for (const e of retry) if (e.signal?.aborted) e.resolve({ kind: 'dropped' });
      for (const e of again) e.sent = false;
      this.queue.unshift(...again);
      await sleep(this.backoff.next(), this.closed.signal);
    }
    this.inFlight = false;
    if (this.closed.signal.aborted) this.close();
    else this.kick();
  }
}
