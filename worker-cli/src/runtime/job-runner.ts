import type { ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { JobState, type Job } from '../../../gen/edge/v1/job_pb.js';
import type { ApiSource } from '../lib/api.js';
import { LogUploader } from './log-uploader.js';
import type { JobReporter, PendingReport } from './job-reporter.js';
import type { Logger } from './logger.js';
import { jobEnvironment } from './job-env.js';
import type { JobUser } from './job-user.js';
import { signalGroup } from './process-group.js';
import { MaskedOutput } from './masked-output.js';
import { jobSpawner, type JobSpawnOptions } from './spawn-helper.js';

export interface JobRunnerOptions {
  apis: ApiSource;
  /** The worker's state reports, coalesced over its jobs. */
  reporter: JobReporter;
  workerName: string;
  log: Logger;
  /** Folder for the attempt's spool file and process-group file. */
  jobsDir: string;
  /** Time between SIGTERM and SIGKILL when a job is stopped. */
  killGraceMs?: number;
  /** The account jobs run as (`--job-user`); the worker's own when absent. */
  jobUser?: JobUser;
  /** How job processes are started and signalled; tests pass stand-ins that start no process. */
  processes?: JobProcesses;
  /** The job's secret environment (from its assignment): set for the process, masked in its output. */
  secretEnv?: Record<string, string>;
  /** How long a started job runs before its RUNNING report goes out; default RUNNING_REPORT_GRACE_MS. */
  runningReportGraceMs?: number;
}

export interface JobProcesses {
  spawn: typeof spawn;
  signalGroup: typeof signalGroup;
}

/** Job processes start from the spawn helper where it can start them (spawn-helper.ts), else from node. */
const REAL_PROCESSES: JobProcesses = { spawn: jobSpawner.spawn, signalGroup };

/** Folders of spool files made so far (once per worker, not once per job). */
const madeDirs = new Set<string>();
const SPOOL_FLAGS = fs.constants.O_RDWR | fs.constants.O_APPEND | fs.constants.O_CREAT | fs.constants.O_TRUNC;
/** The machine's name, for the jobs' HOSTNAME. */
const HOSTNAME = os.hostname();

/** Output of at most this much, none of it streamed yet when the job ends, goes with the end report (the server's limit). */
export const END_REPORT_LOG_BYTES = 64 * 1024;
/**
 * A started job's RUNNING report waits this long: most jobs of a busy queue end sooner, and then one
 * end report (carrying how long the job ran) is the only message about them. Far below the server's
 * wait for an assignment to be acknowledged, and the report says how long the job had run by then.
 */
export const RUNNING_REPORT_GRACE_MS = 150;

interface Ending {
  state: JobState;
  exitCode?: number;
  signal: string;
  reason: string;
}

type StopCause = { kind: 'cancel' | 'timeout' | 'shutdown'; reason: string };

/**
 * Runs one attempt of a job as a child process in its own process group. Its stdout and stderr go
 * straight to a spool file that the LogUploader streams to the server; the runner reports RUNNING once
 * the process has started, and how it ended once every byte of output is stored. A job that ends
 * while its RUNNING report still waits to be sent reports its end alone, with how long it ran, and
 * short output not streamed yet rides with that end report.
 */
export class JobRunner {
  readonly jobId: string;
  readonly attempt: number;
  readonly slots: number;
  private child: ChildProcess | undefined;
  private stopCause: StopCause | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private readonly uploader: LogUploader;
  private readonly stopReporting = new AbortController();
  private running: PendingReport | undefined;
  private runningGrace: NodeJS.Timeout | undefined;
  private runningReported: Promise<void> = Promise.resolve();
  private startedAt = 0;
  private readonly spoolPath: string;
  private readonly spoolFd: number;
  private masked: MaskedOutput | undefined;
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
    this.spoolPath = path.join(opts.jobsDir, `${job.id}.${attempt}.log`);
    if (!madeDirs.has(opts.jobsDir)) {
      fs.mkdirSync(opts.jobsDir, { recursive: true, mode: 0o700 });
      madeDirs.add(opts.jobsDir);
    }
    // One descriptor for the job's output (appended) and the uploader's reads: no other open per job.
    this.spoolFd = fs.openSync(this.spoolPath, SPOOL_FLAGS, 0o600);
    this.uploader = new LogUploader(opts.apis, this.spoolFd, job.id, attempt, opts.log, {
      onRefused: (msg) => this.abandon(`the server refused its output (${msg})`),
    });
    this.finished = this.run();
  }

  /** Stops the job: SIGTERM to its process group, SIGKILL after the grace period. It ends CANCELED. */
  cancel(reason: string): void {
    this.stop({ kind: 'cancel', reason });
  }

  /** Stops the job because the worker is shutting down; it ends FAILED (and may be retried elsewhere). */
  shutdown(): void {
    this.stop({ kind: 'shutdown', reason: 'killed: its worker was shut down' });
  }

  /** Gives up on an attempt the server no longer accepts from us: kill it, report nothing. */
  abandon(why: string): void {
    if (this.stopReporting.signal.aborted) return;
    this.opts.log.warn(`job ${this.jobId} attempt ${this.attempt} was taken back by the server (${why}): killing its process group`);
    this.stopReporting.abort();
    this.uploader.abandon();
    this.stop({ kind: 'cancel', reason: 'taken back by the server' });
  }

  private stop(cause: StopCause): void {
    this.stopCause ??= cause;
    const child = this.child;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    const { signalGroup: signal } = this.opts.processes ?? REAL_PROCESSES;
    signal(child.pid, 'SIGTERM');
    this.killTimer ??= setTimeout(() => signal(child.pid!, 'SIGKILL'), this.opts.killGraceMs ?? 10_000);
  }

  private async run(): Promise<void> {
    const { log } = this.opts;
    const ending = await this.execute();
    await this.masked?.close();
    this.outcome = ending.state;
    clearTimeout(this.killTimer);
    clearTimeout(this.timeoutTimer);
    const rest = await this.uploader.finish({ handOverUpTo: END_REPORT_LOG_BYTES });
    fs.closeSync(this.spoolFd);
    fs.rmSync(this.spoolPath, { force: true });
    // Not sent yet: the end says it started. Sent: the end must not overtake it.
    const unsent = this.runningGrace !== undefined ? (clearTimeout(this.runningGrace), (this.runningGrace = undefined), true) : (this.running?.withdraw() ?? false);
    const ranForMs = unsent ? Math.round(performance.now() - this.startedAt) : undefined;
    if (ranForMs === undefined) await this.runningReported;
    if (this.stopReporting.signal.aborted) return;
    log.info(`job ${this.jobId} attempt ${this.attempt} ended ${JobState[ending.state]}${describe(ending)}`);
    await this.report({ ...ending, ranForMs, ...(rest ? { log: rest.data, logOffset: BigInt(rest.offset) } : {}) });
  }

  /** Starts the process and resolves with how it ended. */
  private execute(): Promise<Ending> {
    const spec = this.job.spec!;
    const [cmd, ...args] = spec.argv;
    return new Promise<Ending>((resolve) => {
      const user = this.opts.jobUser;
      const secrets = this.opts.secretEnv ?? {};
      const env = jobEnvironment(
        process.env,
        { ...spec.env, ...secrets },
        { jobId: this.jobId, attempt: this.attempt, queue: spec.queue, workerName: this.opts.workerName, hostname: HOSTNAME },
        user,
      );
      // The job writes to a descriptor the worker opened: it needs no access to the worker's state dir.
      // A job with secrets writes to pipes instead, whose output is masked before it reaches the spool.
      const values = Object.values(secrets);
      const out = values.length ? 'pipe' : this.spoolFd;
      let child: ChildProcess;
      try {
        const account = user && user.uid !== process.getuid?.() ? { uid: user.uid, gid: user.gid } : {};
        const options: JobSpawnOptions = { cwd: spec.cwd || undefined, env, detached: true, stdio: ['ignore', out, out], outputFile: this.spoolPath, ...account };
        child = (this.opts.processes ?? REAL_PROCESSES).spawn(cmd!, args, options);
      } catch (err) {
        resolve(this.failedToStart(err));
        return;
      }
      if (out === 'pipe') {
        this.masked = new MaskedOutput(this.spoolPath, values);
        if (child.stdout) this.masked.attach(child.stdout);
        if (child.stderr) this.masked.attach(child.stderr);
      }
      this.child = child;
      let started = false;
      child.once('spawn', () => {
        started = true;
        this.opts.log.info(`job ${this.jobId} attempt ${this.attempt} started: pid ${child.pid}, ${JSON.stringify(spec.argv)}`);
        this.startedAt = performance.now();
        // A job that ends within the grace needs no RUNNING report at all: its end says it started.
        const grace = this.opts.runningReportGraceMs ?? RUNNING_REPORT_GRACE_MS;
        if (grace > 0) this.runningGrace = setTimeout(() => this.reportRunning(), grace);
        else this.reportRunning();
        if (spec.timeoutSeconds > 0) {
          this.timeoutTimer = setTimeout(() => this.stop({ kind: 'timeout', reason: `timed out after ${spec.timeoutSeconds} s` }), spec.timeoutSeconds * 1000);
        }
        if (this.stopCause) this.stop(this.stopCause);
      });
      child.once('error', (err) => {
        if (!started) resolve(this.failedToStart(err));
      });
      child.once('exit', (code, signal) => {
        if (started) resolve(this.ending(code, signal));
      });
    });
  }

  /** The job is still running after the grace: RUNNING, with how long it has run, so its start is stamped right. */
  private reportRunning(): void {
    this.runningGrace = undefined;
    const ranForMs = Math.round(performance.now() - this.startedAt);
    this.running = this.opts.reporter.report(this.request({ state: JobState.RUNNING, signal: '', reason: '', ranForMs }), this.stopReporting.signal);
    this.runningReported = this.running.outcome.then((o) => {
      if (o.kind === 'refused') this.abandon(o.error.rawMessage);
    });
  }

  private failedToStart(err: unknown): Ending {
    const reason = `could not start ${JSON.stringify(this.job.spec!.argv[0])}: ${(err as Error).message}`;
    fs.writeSync(this.spoolFd, `edge: ${reason}\n`);
    return { state: JobState.FAILED, signal: '', reason };
  }

  private ending(code: number | null, signal: NodeJS.Signals | null): Ending {
    const cause = this.stopCause;
    const how = { exitCode: code ?? undefined, signal: signal ?? '' };
    if (cause?.kind === 'cancel') return { state: JobState.CANCELED, ...how, reason: cause.reason };
    if (cause) return { state: JobState.FAILED, ...how, reason: cause.reason };
    if (signal) return { state: JobState.FAILED, signal, reason: `killed by ${signal}` };
    if (code === 0) return { state: JobState.SUCCEEDED, exitCode: 0, signal: '', reason: '' };
    return { state: JobState.FAILED, exitCode: code ?? undefined, signal: '', reason: `exited with code ${code}` };
  }

  private request(ending: Ending & { ranForMs?: number; log?: Buffer; logOffset?: bigint }) {
    return { jobId: this.jobId, attempt: this.attempt, workerName: this.opts.workerName, ...ending };
  }

  /** Reports the end until the server takes it (the reporter retries); gives up only when the server refuses it. */
  private async report(ending: Ending & { ranForMs?: number; log?: Buffer; logOffset?: bigint }): Promise<void> {
    const o = await this.opts.reporter.report(this.request(ending), this.stopReporting.signal).outcome;
    if (o.kind === 'refused') this.opts.log.warn(`server refused state ${JobState[ending.state]} of job ${this.jobId} attempt ${this.attempt}: ${o.error.rawMessage}`);
  }
}

function describe(e: Ending): string {
  if (e.signal) return ` (signal ${e.signal})`;
  if (e.exitCode !== undefined) return ` (exit code ${e.exitCode})`;
  return e.reason ? ` (${e.reason})` : '';
}
