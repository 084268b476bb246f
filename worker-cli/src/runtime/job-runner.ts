import { spawn, type ChildProcess } from 'node:child_process';
import os from 'node:os';
import { Code, ConnectError } from '@connectrpc/connect';
import { JobState, type Job } from '../../../gen/edge/v1/job_pb.js';
import type { Api } from '../lib/api.js';
import { Backoff, sleep } from './backoff.js';
import { LogUploader } from './log-uploader.js';
import type { Logger } from './logger.js';

export interface JobRunnerOptions {
  api: Api;
  workerName: string;
  log: Logger;
  /** Time between SIGTERM and SIGKILL when a job is stopped. */
  killGraceMs?: number;
}

interface Ending {
  state: JobState;
  exitCode?: number;
  signal: string;
  reason: string;
}

/**
 * Runs one attempt of a job as a child process in its own process group: reports RUNNING once the
 * process has started, streams its output, and reports how it ended once every byte is stored.
 */
export class JobRunner {
  readonly jobId: string;
  readonly attempt: number;
  readonly slots: number;
  private child: ChildProcess | undefined;
  private cancelReason: string | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private readonly uploader: LogUploader;
  private readonly stopReporting = new AbortController();
  private runningReported: Promise<void> = Promise.resolve();
  readonly finished: Promise<void>;
  /** How the attempt ended, once it has (for the worker's metrics). */
  outcome: JobState | undefined;

  constructor(
    private readonly job: Job,
    attempt: number,
    private readonly opts: JobRunnerOptions,
  ) {
    this.jobId = job.id;
    this.attempt = attempt;
    this.slots = job.spec?.slots ?? 1;
    this.uploader = new LogUploader(opts.api, job.id, attempt, opts.log);
    this.finished = this.run();
  }

  /** Stops the job: SIGTERM to its process group, SIGKILL after the grace period. */
  cancel(reason: string): void {
    if (this.cancelReason) return;
    this.cancelReason = reason;
    this.kill();
  }

  /** Gives up on an attempt the server no longer accepts from us: kill it, report nothing. */
  abandon(): void {
    this.stopReporting.abort();
    this.uploader.abandon();
    this.cancelReason ??= 'attempt taken back by the server';
    this.kill();
  }

  private kill(): void {
    const child = this.child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    signalGroup(child.pid, 'SIGTERM');
    this.killTimer ??= setTimeout(() => signalGroup(child.pid!, 'SIGKILL'), this.opts.killGraceMs ?? 10_000);
  }

  private async run(): Promise<void> {
    const { log } = this.opts;
    const ending = await this.execute();
    this.outcome = ending.state;
    clearTimeout(this.killTimer);
    await this.uploader.finish();
    await this.runningReported; // the end must not overtake the start
    if (this.stopReporting.signal.aborted) return;
    log.info(`job ${this.jobId} attempt ${this.attempt} ended ${JobState[ending.state]}${describe(ending)}`);
    await this.report(ending);
  }

  /** Starts the process and resolves with how it ended. */
  private execute(): Promise<Ending> {
    const spec = this.job.spec!;
    const [cmd, ...args] = spec.argv;
    return new Promise<Ending>((resolve) => {
      const env = {
        ...process.env,
        ...spec.env,
        EDGE_JOB_ID: this.jobId,
        EDGE_ATTEMPT: String(this.attempt),
        EDGE_QUEUE: spec.queue,
        EDGE_WORKER_NAME: this.opts.workerName,
        HOSTNAME: os.hostname(),
      };
      let child: ChildProcess;
      try {
        child = spawn(cmd!, args, { cwd: spec.cwd || undefined, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
      } catch (err) {
        resolve(this.failedToStart(err));
        return;
      }
      this.child = child;
      let started = false;
      child.once('spawn', () => {
        started = true;
        this.opts.log.info(`job ${this.jobId} attempt ${this.attempt} started: pid ${child.pid}`);
        this.runningReported = this.report({ state: JobState.RUNNING, signal: '', reason: '' });
        if (this.cancelReason) this.kill();
      });
      child.once('error', (err) => {
        if (!started) resolve(this.failedToStart(err));
      });
      for (const stream of [child.stdout!, child.stderr!]) {
        stream.on('data', (data: Buffer) => {
          if (!this.uploader.write(data)) {
            child.stdout!.pause();
            child.stderr!.pause();
            void this.uploader.whenDrained().then(() => {
              child.stdout!.resume();
              child.stderr!.resume();
            });
          }
        });
      }
      // 'close' waits for the output pipes too; a daemonized grandchild may hold them open, so
      // give them a few seconds after the process itself exits.
      child.once('exit', () => {
        setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
        }, 5_000).unref();
      });
      child.once('close', (code, signal) => {
        if (!started) return;
        resolve(this.ending(code, signal));
      });
    });
  }

  private failedToStart(err: unknown): Ending {
    const reason = `could not start ${JSON.stringify(this.job.spec!.argv[0])}: ${(err as Error).message}`;
    this.uploader.write(Buffer.from(`edge: ${reason}\n`));
    return { state: JobState.FAILED, signal: '', reason };
  }

  private ending(code: number | null, signal: NodeJS.Signals | null): Ending {
    if (this.cancelReason) {
      return { state: JobState.CANCELED, exitCode: code ?? undefined, signal: signal ?? '', reason: this.cancelReason };
    }
    if (signal) return { state: JobState.FAILED, signal, reason: `killed by ${signal}` };
    if (code === 0) return { state: JobState.SUCCEEDED, exitCode: 0, signal: '', reason: '' };
    return { state: JobState.FAILED, exitCode: code ?? undefined, signal: '', reason: `exited with code ${code}` };
  }

  /** Reports a state until the server takes it; gives up only when the server refuses the attempt. */
  private async report(ending: Ending): Promise<void> {
    const backoff = new Backoff(200, 5_000);
    const signal = this.stopReporting.signal;
    while (!signal.aborted) {
      try {
        await this.opts.api.workers.updateJobState(
          { jobId: this.jobId, attempt: this.attempt, workerName: this.opts.workerName, ...ending },
          { signal, timeoutMs: 15_000 },
        );
        return;
      } catch (err) {
        const e = ConnectError.from(err);
        if (signal.aborted) return;
        if ([Code.FailedPrecondition, Code.NotFound, Code.PermissionDenied, Code.InvalidArgument].includes(e.code)) {
          this.opts.log.warn(`server refused state ${JobState[ending.state]} of job ${this.jobId} attempt ${this.attempt}: ${e.rawMessage}`);
          if (ending.state === JobState.RUNNING) this.abandon();
          return;
        }
        this.opts.log.warn(`could not report job ${this.jobId} (${e.rawMessage}); retrying`);
        await sleep(backoff.next(), signal);
      }
    }
  }
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // the group is already gone
  }
}

function describe(e: Ending): string {
  if (e.signal) return ` (signal ${e.signal})`;
  if (e.exitCode !== undefined) return ` (exit code ${e.exitCode})`;
  return e.reason ? ` (${e.reason})` : '';
}
