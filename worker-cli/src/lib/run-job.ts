import { setTimeout as sleep } from 'node:timers/promises';
import { Code, ConnectError } from '@connectrpc/connect';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { JobState, type Job, type JobSpecSchema } from '../../../gen/edge/v1/job_pb.js';
import type { Api } from './api.js';
import { EXIT, exitCodeOf } from './job-exit-codes.js';
import { jobStateName } from './output.js';
import { StatusLine } from './status-line.js';

/** How long `edge run` keeps trying to reach the server again after the connection dropped. */
const RECONNECT_FOR_MS = 120_000;
const STATUS_EVERY_MS = 1_000;
const CANCEL_TIMEOUT_MS = 10_000;
/** Queued jobs read to tell a waiting job's position; past this many it says "over N ahead". */
const POSITION_WINDOW = 1000;

/** Errors that no retry can mend: the job or the credential is wrong, not the connection. */
const FINAL_CODES = new Set([Code.InvalidArgument, Code.NotFound, Code.PermissionDenied, Code.Unauthenticated, Code.FailedPrecondition]);

export interface RunOptions {
  /** Submit, print the id and return without following the job. */
  detach?: boolean;
  /** How the CLI is called, for the hints it prints ("edge"). */
  bin?: string;
  /** Where Ctrl-C arrives ('SIGINT' events) and where status lines go; the process's own by default. */
  interrupts?: NodeJS.EventEmitter;
  stderr?: NodeJS.WriteStream;
}

/**
 * Runs a job as if it were a local command: submits it, shows why it waits, streams its output
 * and resolves with the exit code the CLI should end with (see job-exit-codes.ts).
 */
export async function runJob(api: Api, spec: MessageInitShape<typeof JobSpecSchema>, opts: RunOptions = {}): Promise<number> {
  const bin = opts.bin ?? 'edge';
  const status = new StatusLine(opts.stderr);
  let job: Job;
  try {
    job = (await api.jobs.submitJob({ spec })).job!;
  } catch (err) {
    status.note(`${bin}: could not submit the job: ${describeError(err)}`);
    return EXIT.notSubmitted;
  }
  if (opts.detach) {
    process.stdout.write(`${job.id}\n`);
    return 0;
  }
  return new JobFollower(api, job, status, bin, opts.interrupts ?? process).follow();
}

class JobFollower {
  private readonly abort = new AbortController();
  private leaving = false;
  private interrupts = 0;
  /** The cancel asked for by the first Ctrl-C: leaving waits for it, so "canceling" is never a lie. */
  private cancelSent: Promise<void> = Promise.resolve();
  /** Attempt and byte offset of the last output shown: where a resumed tail starts. */
  private attempt = 0;
  private offset = 0n;
  private outputSeen = false;

  constructor(
    private readonly api: Api,
    private job: Job,
    private readonly status: StatusLine,
    private readonly bin: string,
    private readonly ctrlC: NodeJS.EventEmitter,
  ) {}

  async follow(): Promise<number> {
    const onSigint = () => this.interrupt();
    this.ctrlC.on('SIGINT', onSigint);
    const statusLoop = this.showWaiting();
    try {
      const ended = await this.tail();
      if (this.leaving || !ended) return await this.leave();
      this.status.clear();
      if (ended.state !== JobState.SUCCEEDED && (ended.exitCode === undefined || ended.state === JobState.CANCELED)) {
        this.status.note(`${this.bin}: job ${ended.id} ended ${jobStateName(ended.state)}${ended.reason ? ` (${ended.reason})` : ''}`);
      }
      return exitCodeOf(ended);
    } catch (err) {
      if (this.leaving) return await this.leave();
      this.status.note(`${this.bin}: lost track of job ${this.job.id}: ${describeError(err)}; follow it with: ${this.bin} job logs -f ${this.job.id}`);
      return EXIT.notSubmitted;
    } finally {
      this.abort.abort();
      this.ctrlC.off('SIGINT', onSigint);
      await statusLoop;
    }
  }

  private interrupt(): void {
    this.interrupts++;
    if (this.interrupts === 1) {
      this.status.note(`${this.bin}: canceling job ${this.job.id}; waiting for it to end (Ctrl-C again to leave it running)`);
      this.cancelSent = this.api.jobs
        .cancelJob({ id: this.job.id }, { timeoutMs: CANCEL_TIMEOUT_MS })
        .then(() => undefined, (err) => this.status.note(`${this.bin}: could not cancel job ${this.job.id}: ${describeError(err)}`));
      return;
    }
    this.leaving = true;
    this.abort.abort();
  }

  private async leave(): Promise<number> {
    await this.cancelSent;
    this.status.note(`${this.bin}: left job ${this.job.id} running; follow it with: ${this.bin} job logs -f ${this.job.id} (its end: ${this.bin} job get ${this.job.id})`);
    return EXIT.detached;
  }

  /**
   * Follows the log to the job's end, resuming after a dropped connection from the last byte shown.
   * Returns the ended job, or nothing when the user chose to leave.
   */
  private async tail(): Promise<Job | undefined> {
    let failingSince: number | undefined;
    let noticed = false;
    const signal = this.abort.signal;
    for (;;) {
      try {
        await this.catchUpOnRetry();
        for await (const part of this.api.logs.tailLogs({ jobId: this.job.id, attempt: 0, offset: this.offset }, { signal })) {
          if (failingSince !== undefined) {
            failingSince = undefined;
            noticed = false;
            if (!this.outputSeen) this.status.clear();
          }
          await this.show(part.attempt, part.offset, part.data);
        }
        // A server shutting down ends its streams cleanly: only the job's state says whether the tail is over.
        const { job } = await this.api.jobs.getJob({ id: this.job.id }, { signal });
        if (isEnded(job!.state)) return job!;
        throw new ConnectError('the log stream ended before the job', Code.Unavailable);
      } catch (err) {
        if (signal.aborted) return undefined;
        const ce = ConnectError.from(err);
        if (FINAL_CODES.has(ce.code)) throw err;
        failingSince ??= Date.now();
        if (Date.now() - failingSince > RECONNECT_FOR_MS) throw err;
        const lost = `${this.bin}: connection to the server lost (${ce.rawMessage}); reconnecting…`;
        // Once output streams, the notice gets a line of its own instead of overwriting the output's last.
        if (!this.outputSeen) this.status.set(lost);
        else if (!noticed) this.status.note(lost);
        noticed = true;
        await sleep(1_000, undefined, { signal }).catch(() => undefined);
        if (signal.aborted) return undefined;
      }
    }
  }

  /**
   * A tail of the current attempt starts at the offset asked for; if another attempt began while
   * the connection was down, the rest of the one being shown is read first, then the new one from 0.
   */
  private async catchUpOnRetry(): Promise<void> {
    if (this.attempt === 0) return;
    const { job } = await this.api.jobs.getJob({ id: this.job.id });
    if (job!.attempt === this.attempt) return;
    for await (const part of this.api.logs.tailLogs({ jobId: this.job.id, attempt: this.attempt, offset: this.offset }, { signal: this.abort.signal })) {
      await this.show(part.attempt, part.offset, part.data);
    }
    this.attempt = job!.attempt;
    this.offset = 0n;
  }

  /** Writes the bytes not shown yet; a part that overlaps what was shown is trimmed, never repeated. */
  private async show(attempt: number, offset: bigint, data: Uint8Array): Promise<void> {
    if (attempt !== this.attempt) {
      if (this.attempt !== 0) this.status.note(`${this.bin}: attempt ${this.attempt} ended; attempt ${attempt} starts`);
      this.attempt = attempt;
      this.offset = 0n;
    }
    if (!data.length) return;
    const end = offset + BigInt(data.length);
    if (end <= this.offset) return;
    const fresh = offset < this.offset ? data.subarray(Number(this.offset - offset)) : data;
    if (!this.outputSeen) {
      this.outputSeen = true;
      this.status.clear();
    }
    await write(fresh);
    this.offset = end;
  }

  /** Keeps one status line up to date until the job runs: its queue position or why it waits. */
  private async showWaiting(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted && !this.outputSeen) {
      try {
        this.job = (await this.api.jobs.getJob({ id: this.job.id }, { signal })).job!;
        const text = this.job.state === JobState.QUEUED ? await this.waitingText() : '';
        // Output may have begun meanwhile: a status line now would wipe part of it on a terminal.
        if (this.outputSeen) return;
        if (this.job.state === JobState.QUEUED) this.status.set(`${this.bin}: job ${this.job.id} waiting: ${text}`);
        else if (this.job.state === JobState.ASSIGNED) this.status.set(`${this.bin}: job ${this.job.id} starting on worker ${this.job.workerName}`);
        else {
          this.status.clear();
          return;
        }
      } catch {
        // The tail reports a lost connection; the status line just waits for the next round.
      }
      await sleep(STATUS_EVERY_MS, undefined, { signal }).catch(() => undefined);
    }
  }

  private async waitingText(): Promise<string> {
    if (this.job.reason) return this.job.reason;
    const queue = this.job.spec!.queue;
    const signal = this.abort.signal;
    const [{ queues }, { jobs: queued, nextPageToken }] = await Promise.all([
      this.api.jobs.listQueueStats({ pageSize: 1000 }, { signal }),
      this.api.jobs.listJobs({ queue, states: [JobState.QUEUED], pageSize: POSITION_WINDOW }, { signal }),
    ]);
    // Queued jobs start by priority, then in submission order (ids are sortable by submission time).
    const mine = this.job.spec!.priority;
    const ahead = queued.filter((j) => j.id !== this.job.id && (j.spec!.priority > mine || (j.spec!.priority === mine && j.id < this.job.id))).length;
    // The list is newest first: beyond one page lie older jobs, of which some are ahead.
    const position = nextPageToken ? `${ahead} or more job(s) ahead` : `position ${ahead + 1} of ${queued.length}`;
    const q = queues.find((s) => s.queue === queue);
    const capacity = q ? `; ${q.freeSlots} free slot(s) on ${q.workers} worker(s)` : '';
    return `queued in ${queue}, ${position}${capacity}`;
  }
}

const isEnded = (s: JobState) => s === JobState.SUCCEEDED || s === JobState.FAILED || s === JobState.CANCELED;

export function describeError(err: unknown): string {
  if (err instanceof ConnectError) {
    const hint = err.code === Code.Unavailable ? ' (is the server running, and is --api-url / EDGE_API_URL right?)' : '';
    return `${Code[err.code]}: ${err.rawMessage}${hint}`;
  }
  return (err as Error).message ?? String(err);
}

function write(data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve())));
}
