import path from 'node:path';
import { Code, ConnectError } from '@connectrpc/connect';
import { VERSION } from '../../../server/domain/version.js';
import { JobState } from '../../../gen/edge/v1/job_pb.js';
import { WorkerState } from '../../../gen/edge/v1/worker_pb.js';
import type { FetchJobsResponse, JobAssignment } from '../../../gen/edge/v1/worker_service_pb.js';
import { ApiPool } from '../lib/api.js';
import { Backoff, sleep } from './backoff.js';
import { JobRunner } from './job-runner.js';
import type { Logger } from './logger.js';
import { pidFilePath, removePidFile, writePidFile } from './pid-file.js';
import { killOrphans } from './process-group.js';

/** Secrets of the worker that its jobs must never inherit. */
const HIDDEN_ENV = ['EDGE_REGISTRATION_SECRET', 'EDGE_TOKEN', 'EDGE_ADMIN_TOKEN'];

export interface WorkerOptions {
  /** API server URLs (replicas); the worker uses one and moves to the next when it fails. */
  apiUrls: string[];
  name: string;
  queues: string[];
  concurrency: number;
  stateDir: string;
  log: Logger;
  version?: string;
  /** Time between SIGTERM and SIGKILL when a job is stopped (cancel, timeout, forced stop). */
  killGraceMs?: number;
}

/**
 * The edge worker: registers, holds its FetchJobs stream, runs what the server pushes, heartbeats,
 * and on stop drains: takes no new job, lets running ones finish, reports itself OFFLINE. A second
 * stop request kills the running jobs (SIGTERM, then SIGKILL after the grace period).
 */
export class EdgeWorker {
  private readonly pool: ApiPool;
  private readonly runners = new Map<string, JobRunner>();
  private stopRequested = false;
  /** Aborted once the server knows we are terminating: ends the job stream and all waits. */
  private readonly stopping = new AbortController();
  /** Heartbeats go out one at a time, so a late IDLE never lands after TERMINATING. */
  private heartbeatChain: Promise<void> = Promise.resolve();
  private readonly log: Logger;
  private heartbeatMs = 10_000;
  private readonly pidFile: string;
  private readonly jobsDir: string;

  constructor(private readonly opts: WorkerOptions) {
    this.pool = new ApiPool(opts.apiUrls);
    this.log = opts.log;
    this.pidFile = pidFilePath(opts.stateDir, opts.name);
    this.jobsDir = path.join(opts.stateDir, `${opts.name}.jobs`);
  }

  get isStopping(): boolean {
    return this.stopRequested;
  }

  /** Asks for a graceful stop; run() resolves once running jobs have finished. */
  requestStop(): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.log.info(`stopping: taking no new jobs, waiting for ${this.runners.size} running job(s)`);
    // Tell the server first, so it stops assigning; then drop the stream.
    void this.sendHeartbeat(WorkerState.TERMINATING).finally(() => this.stopping.abort());
  }

  /** Stops now: running jobs get SIGTERM, then SIGKILL after the grace period, and end FAILED. */
  forceStop(): void {
    this.requestStop();
    if (this.runners.size) this.log.warn(`killing ${this.runners.size} running job(s)`);
    for (const r of this.runners.values()) r.shutdown();
  }

  /** Runs until stopped. Throws only when the worker cannot start at all. */
  async run(): Promise<void> {
    writePidFile(this.pidFile, this.opts.name);
    try {
      await killOrphans(this.jobsDir, this.log);
      if (!(await this.register())) return;
      const drained = new AbortController();
      const heartbeats = this.heartbeatLoop(drained.signal);
      await this.fetchLoop();
      // Stopping: no new jobs reach us; let the running ones finish and upload their output.
      await Promise.all([...this.runners.values()].map((r) => r.finished));
      drained.abort();
      await heartbeats;
      await this.sendHeartbeat(WorkerState.OFFLINE);
      this.log.info('stopped: all jobs finished');
    } finally {
      this.pool.close();
      removePidFile(this.pidFile);
    }
  }

  private async register(): Promise<boolean> {
    const backoff = new Backoff(200, 10_000);
    while (!this.isStopping) {
      const api = this.pool.api;
      try {
        const res = await api.workers.registerWorker(
          { name: this.opts.name, queues: this.opts.queues, concurrency: this.opts.concurrency, version: this.opts.version ?? VERSION },
          { timeoutMs: 10_000 },
        );
        this.heartbeatMs = Math.max(1, res.heartbeatIntervalSeconds) * 1000;
        this.log.info(`registered as ${this.opts.name} at ${api.url}: queues ${res.worker?.queues.join(',')}, concurrency ${this.opts.concurrency}`);
        return true;
      } catch (err) {
        const e = ConnectError.from(err);
        if (e.code === Code.InvalidArgument || e.code === Code.FailedPrecondition || e.code === Code.PermissionDenied) throw new Error(`registration refused: ${e.rawMessage}`);
        this.log.warn(`cannot register at ${api.url} (${e.rawMessage}); ${this.retrying()}`);
        await sleep(backoff.next(), this.stopping.signal);
      }
    }
    return false;
  }

  /** After a failed call: move to the next API URL, if there is one, and say where. */
  private retrying(): string {
    return this.pool.size > 1 ? `trying ${this.pool.failover()}` : 'retrying';
  }

  /** Holds the job stream, reconnecting with backoff, until the worker stops. */
  private async fetchLoop(): Promise<void> {
    const backoff = new Backoff(200, 10_000);
    while (!this.isStopping) {
      try {
        const stream = this.pool.api.workers.fetchJobs({ workerName: this.opts.name }, { signal: this.stopping.signal });
        for await (const ev of stream) {
          backoff.reset();
          this.handle(ev);
        }
        if (!this.isStopping) this.log.warn(`job stream ended by the server; ${this.retrying()}`);
      } catch (err) {
        if (this.isStopping) break;
        const e = ConnectError.from(err);
        if (e.code === Code.NotFound) {
          this.log.warn(`server does not know this worker (${e.rawMessage}); registering again`);
          if (!(await this.register())) break;
          continue;
        }
        this.log.warn(`job stream lost (${e.rawMessage}); ${this.retrying()}`);
      }
      await sleep(backoff.next(), this.stopping.signal);
    }
  }

  private handle(ev: FetchJobsResponse): void {
    switch (ev.event.case) {
      case 'assignment':
        return this.start(ev.event.value);
      case 'cancellation': {
        const { jobId, attempt, reason } = ev.event.value;
        const runner = this.runners.get(jobId);
        if (runner && runner.attempt === attempt) {
          this.log.info(`job ${jobId} attempt ${attempt}: cancel requested (${reason})`);
          runner.cancel(reason || 'canceled');
        }
        return;
      }
    }
  }

  private start(a: JobAssignment): void {
    const job = a.job!;
    const existing = this.runners.get(job.id);
    if (existing?.attempt === a.attempt) return; // a re-sent assignment we already run
    if (this.isStopping) {
      this.log.info(`job ${job.id}: handing back, this worker is stopping`);
      void this.pool.api.workers
        .updateJobState({ jobId: job.id, attempt: a.attempt, workerName: this.opts.name, state: JobState.QUEUED })
        .catch((err) => this.log.warn(`could not hand back job ${job.id}: ${ConnectError.from(err).rawMessage}`));
      return;
    }
    existing?.abandon(`attempt ${a.attempt} replaces it`);
    this.log.info(`job ${job.id} attempt ${a.attempt} received: ${JSON.stringify(job.spec?.argv)}`);
    const runner = new JobRunner(job, a.attempt, {
      apis: this.pool,
      workerName: this.opts.name,
      log: this.log,
      jobsDir: this.jobsDir,
      killGraceMs: this.opts.killGraceMs,
      hiddenEnv: HIDDEN_ENV,
    });
    this.runners.set(job.id, runner);
    void runner.finished.finally(() => {
      if (this.runners.get(job.id) === runner) this.runners.delete(job.id);
    });
  }

  /** Heartbeats until the worker has drained, also while it drains, so it is never taken for lost. */
  private async heartbeatLoop(until: AbortSignal): Promise<void> {
    while (!until.aborted) {
      await sleep(this.heartbeatMs, until);
      if (until.aborted) return;
      const state = this.isStopping ? WorkerState.TERMINATING : this.runners.size ? WorkerState.RUNNING : WorkerState.IDLE;
      await this.sendHeartbeat(state);
    }
  }

  private sendHeartbeat(state: WorkerState): Promise<void> {
    this.heartbeatChain = this.heartbeatChain.then(() => this.heartbeatOnce(state));
    return this.heartbeatChain;
  }

  private async heartbeatOnce(state: WorkerState): Promise<void> {
    try {
      const res = await this.pool.api.workers.heartbeat(
        {
          workerName: this.opts.name,
          state,
          jobs: [...this.runners.values()].map((r) => ({ jobId: r.jobId, attempt: r.attempt })),
        },
        { timeoutMs: 10_000 },
      );
      // Attempts taken back while we could not be heard (we were presumed lost): stop them.
      for (const r of res.revokedJobs) {
        const runner = this.runners.get(r.jobId);
        if (runner?.attempt === r.attempt) runner.abandon('it was given to another worker while this one was presumed lost');
      }
    } catch (err) {
      this.log.warn(`heartbeat failed: ${ConnectError.from(err).rawMessage}`);
    }
  }
}
