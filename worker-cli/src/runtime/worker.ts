import fs from 'node:fs';
import path from 'node:path';
import { Code, ConnectError } from '@connectrpc/connect';
import { VERSION } from '../../../shared/version.js';
import { WorkerState, type SystemInfo } from '../../../gen/edge/v1/worker_pb.js';
import { type FetchJobsResponse, type JobAssignment, type WorkerSettings } from '../../../gen/edge/v1/worker_service_pb.js';
import { JobState } from '../../../gen/edge/v1/job_pb.js';
import { ApiPool, untrustedCertificate } from '../lib/api.js';
import { privateDir } from '../../../shared/private-files.js';
import { sleep } from './backoff.js';
import type { HealthLimits } from './auto-maintenance.js';
import { MaintenanceControl } from './maintenance-control.js';
import { Heartbeats } from './heartbeats.js';
import { isRefusal, nextTry, retryBackoff } from './retry-policy.js';
import { holdJobStream } from './stream-session.js';
import { WorkerTokenFile } from './worker-token.js';
import { JobRunner } from './job-runner.js';
import { JobReporter } from './job-reporter.js';
import type { Logger } from './logger.js';
import { pidFilePath, removePidFile, writePidFile } from './pid-file.js';
import type { JobUser } from './job-user.js';
import { killOrphans } from './process-group.js';
import { jobSpawner } from './spawn-helper.js';
import { StatusFileWriter, statusFilePath, type LocalStatus } from './status-file.js';
import { SystemSampler } from './system-info.js';
import { WorkerMetrics } from './worker-metrics.js';
import { speedUpProtobuf } from '../../../shared/protobuf-speed.js';

export interface WorkerOptions {
  /** API server URLs (replicas); the worker uses one and moves to the next when it fails. */
  apiUrls: string[];
  /**
   * The registration secret, traded once for the worker's own token, which is kept in
   * `<state-dir>/<name>.token` (0600) and used for every call after; not needed while that file holds a valid token.
   */
  registrationSecret?: string;
  /** PEM file of a private CA that signed the server's certificate (https:// URLs). */
  caFile?: string;
  name: string;
  queues: string[];
  concurrency: number;
  stateDir: string;
  log: Logger;
  version?: string;
  /** Time between SIGTERM and SIGKILL when a job is stopped (cancel, timeout, forced stop). */
  killGraceMs?: number;
  /** Folder whose file system's free space is reported (default: the current folder, where jobs run). */
  workDir?: string;
  /** Serve Prometheus metrics here when given. */
  metrics?: { host: string; port: number };
  /** Enter maintenance by itself when the machine crosses these (off when absent). */
  autoMaintenance?: HealthLimits;
  /** Run jobs as this account (`--job-user`), which cannot read the state dir. */
  jobUser?: JobUser;
}

/** The worker was refused by the server (e.g. incompatible versions): it drains and exits 1. */
export class RefusedError extends Error {}

/**
 * The edge worker: registers, holds its FetchJobs stream, runs what the server pushes, heartbeats,
 * follows operators' live changes (queues, concurrency, maintenance, shutdown) and on stop drains:
 * takes no new job, lets running ones finish, reports itself OFFLINE. A second stop request kills the
 * running jobs (SIGTERM, then SIGKILL after the grace period).
 */
export class EdgeWorker {
  private readonly pool: ApiPool;
  private readonly reporter: JobReporter;
  private readonly runners = new Map<string, JobRunner>();
  private stopRequested = false;
  /** Aborted once the server knows we are terminating: ends the job stream and all waits. */
  private readonly stopping = new AbortController();
  private readonly heartbeats: Heartbeats;
  private readonly log: Logger;
  private readonly pidFile: string;
  private readonly jobsDir: string;
  private readonly statusFile: string;
  private readonly status: StatusFileWriter;
  private readonly sampler: SystemSampler;
  private readonly metrics: WorkerMetrics;
  private readonly startedAt = new Date();
  private queues: string[];
  private concurrency: number;
  private maintenance = false;
  private maintenanceComment = '';
  private readonly maintenanceControl: MaintenanceControl;
  private system: SystemInfo | undefined;
  /** Why the server refused this worker, when it did; the worker then exits 1. */
  refusal: string | undefined;
  /** This worker's own token (from its state dir or its registration). */
  private readonly token: WorkerTokenFile;

  constructor(private readonly opts: WorkerOptions) {
    this.token = new WorkerTokenFile(opts.stateDir, opts.name);
    this.pool = new ApiPool(opts.apiUrls, () => this.token.token ?? this.opts.registrationSecret, { caFile: opts.caFile });
    this.log = opts.log;
    this.reporter = new JobReporter(this.pool, this.log);
    this.pidFile = pidFilePath(opts.stateDir, opts.name);
    this.jobsDir = path.join(opts.stateDir, `${opts.name}.jobs`);
    this.statusFile = statusFilePath(opts.stateDir, opts.name);
    this.status = new StatusFileWriter({
      file: this.statusFile,
      status: () => this.localStatus(),
      significant: () => this.significantStatus(),
      onError: (err) => this.log.warn(`cannot write ${this.statusFile}: ${err.message}`),
    });
    this.sampler = new SystemSampler(opts.workDir ?? process.cwd());
    this.queues = opts.queues;
    this.concurrency = opts.concurrency;
    this.metrics = new WorkerMetrics(() => ({
      state: WorkerState[this.currentState()],
      runningJobs: this.runners.size,
      usedSlots: this.usedSlots(),
      concurrency: this.concurrency,
      system: this.system,
    }));
    this.maintenanceControl = new MaintenanceControl({
      pool: this.pool,
      workerName: opts.name,
      stateDir: opts.stateDir,
      log: this.log,
      limits: opts.autoMaintenance,
      isStopping: () => this.isStopping,
      inMaintenance: () => this.maintenance,
      system: () => this.system,
      refresh: () => this.sendHeartbeat(this.currentState()),
    });
    this.heartbeats = new Heartbeats({
      pool: this.pool,
      workerName: opts.name,
      log: this.log,
      metrics: this.metrics,
      held: () => [...this.runners.values()].map((r) => ({ jobId: r.jobId, attempt: r.attempt })),
      system: () => this.system,
      answered: (res, state) => {
        // Attempts taken back while we could not be heard (we were presumed lost): stop them.
        for (const r of res.revokedJobs) {
          const runner = this.runners.get(r.jobId);
          if (runner?.attempt === r.attempt) runner.abandon('it was given to another worker while this one was presumed lost');
        }
        if (res.settings && state !== WorkerState.OFFLINE) this.applySettings(res.settings);
        else this.writeStatus();
      },
    });
  }

  get isStopping(): boolean {
    return this.stopRequested;
  }

  /** Asks for a graceful stop; run() resolves once running jobs have finished. */
  requestStop(): void {
    if (this.stopRequested) return;
    this.stopRequested = true;
    this.log.info(`stopping: taking no new jobs, waiting for ${this.runners.size} running job(s)`);
    this.writeStatus();
    // Tell the server first, so it stops assigning; then drop the stream.
    void this.sendHeartbeat(WorkerState.TERMINATING).finally(() => this.stopping.abort());
  }

  /** Stops now: running jobs get SIGTERM, then SIGKILL after the grace period, and end FAILED. */
  forceStop(): void {
    this.requestStop();
    if (this.runners.size) this.log.warn(`killing ${this.runners.size} running job(s)`);
    for (const r of this.runners.values()) r.shutdown();
  }

  /** The API in use now. */
  private get api() {
    return this.pool.api;
  }

  private retrying(): string {
    return nextTry(this.pool);
  }

  /** Runs until stopped. Throws only when the worker cannot start at all. */
  async run(): Promise<void> {
    speedUpProtobuf();
    // The state dir holds this worker's token: only its owner enters it, whatever the jobs' umask.
    privateDir(this.opts.stateDir);
    writePidFile(this.pidFile, this.opts.name);
    let metricsServer: { port: number; close(): Promise<void> } | undefined;
    try {
      if (this.opts.metrics) {
        metricsServer = await this.metrics.serve(this.opts.metrics.host, this.opts.metrics.port);
        this.log.info(`metrics on http://${this.opts.metrics.host}:${metricsServer.port}/metrics`);
      }
      this.writeStatus();
      await killOrphans(this.jobsDir, this.log);
      // Jobs start from a small helper process (spawn-helper.ts); started now, it is ready by the first
      // job. Jobs run as another user start from the worker itself.
      const jobUser = this.opts.jobUser;
      if (!jobUser || jobUser.uid === process.getuid?.()) void jobSpawner.prepare();
      if (!(await this.register())) return;
      await this.maintenanceControl.checkHealth(); // a machine already unhealthy at start takes no job
      const drained = new AbortController();
      const heartbeats = this.heartbeats.loop(drained.signal, async () => {
        this.sampleSystem();
        await this.maintenanceControl.checkHealth();
        return this.currentState();
      });
      await holdJobStream({
        pool: this.pool,
        workerName: this.opts.name,
        log: this.log,
        stopping: this.stopping.signal,
        isStopping: () => this.isStopping,
        onMessage: (ev) => this.handle(ev),
        reRegister: () => this.reRegister(),
      });
      // Stopping: no new jobs reach us; let the running ones finish and upload their output.
      await Promise.all([...this.runners.values()].map((r) => r.finished));
      drained.abort();
      await heartbeats;
      await this.sendHeartbeat(WorkerState.OFFLINE);
      this.log.info('stopped: all jobs finished');
    } finally {
      this.reporter.close();
      this.pool.close();
      await metricsServer?.close();
      this.status.close();
      fs.rmSync(this.statusFile, { force: true });
      removePidFile(this.pidFile);
    }
  }

  /** Acts on what `edge maintenance on|off` left in the state dir (it signals us with SIGUSR2). */
  handleLocalRequest(): Promise<void> {
    return this.maintenanceControl.handleLocalRequest();
  }

  private async register(): Promise<boolean> {
    const backoff = retryBackoff(10_000);
    const version = this.opts.version ?? VERSION;
    while (!this.isStopping) {
      const api = this.api;
      try {
        const res = await api.workers.registerWorker(
          { name: this.opts.name, queues: this.queues, concurrency: this.concurrency, version, systemInfo: this.sampleSystem() },
          { timeoutMs: 10_000 },
        );
        if (res.workerToken) this.token.keep(res.workerToken);
        this.heartbeats.periodMs = Math.max(1, res.heartbeatIntervalSeconds) * 1000;
        this.log.info(`registered as ${this.opts.name} (version ${version}) at ${api.url}: queues ${res.worker?.queues.join(',')}, concurrency ${this.concurrency}`);
        if (res.settings) this.applySettings(res.settings);
        return true;
      } catch (err) {
        const e = ConnectError.from(err);
        const untrusted = untrustedCertificate(err);
        if (untrusted) throw new RefusedError(`cannot connect to ${api.url}: ${untrusted}`);
        if (e.code === Code.Unauthenticated && this.token.token && this.opts.registrationSecret) {
          // Our token was revoked (or the server's database is new): register afresh with the secret.
          this.log.warn(`the server does not accept this worker's token (${e.rawMessage}); registering again with the registration secret`);
          this.token.drop();
          continue;
        }
        if (e.code === Code.Unauthenticated) {
          throw new RefusedError(
            `registration refused: ${e.rawMessage}. ${this.token.token ? 'This worker\'s token is not accepted; ' : ''}` +
              'give the registration secret in EDGE_REGISTRATION_SECRET or --registration-secret-file',
          );
        }
        if (isRefusal(e)) throw new RefusedError(`registration refused: ${e.rawMessage}`);
        this.log.warn(`cannot register at ${api.url} (${e.rawMessage}); ${this.retrying()}`);
        await sleep(backoff.next(), this.stopping.signal);
      }
    }
    return false;
  }

  /** The server forgot this worker: register again; false when the worker must stop instead. */
  private async reRegister(): Promise<boolean> {
    try {
      return await this.register();
    } catch (refused) {
      // A server upgraded under us may refuse us now: finish what we hold, then exit.
      this.refusal = (refused as Error).message;
      this.log.error(`${this.refusal}; draining and exiting`);
      this.requestStop();
      return false;
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
      case 'settings':
        return this.applySettings(ev.event.value);
      case 'keepalive':
        // The first one says the stream is live: tell the server at once that we are ready (it
        // shows us STARTING until our first heartbeat).
        return this.stateMayHaveChanged();
    }
  }

  /** What the server wants of us: pushed on the stream, and repeated in every heartbeat response. */
  private applySettings(s: WorkerSettings): void {
    if (this.isStopping) return;
    const queues = s.queues.join(',');
    if (queues && queues !== this.queues.join(',')) {
      this.log.info(`queues changed by an operator: ${this.queues.join(',')} -> ${queues}`);
      this.queues = [...s.queues];
    }
    if (s.concurrency && s.concurrency !== this.concurrency) {
      this.log.info(`concurrency changed by an operator: ${this.concurrency} -> ${s.concurrency}`);
      this.concurrency = s.concurrency;
    }
    if (s.maintenance !== this.maintenance) {
      this.log.info(s.maintenance ? `entering maintenance: ${s.maintenanceComment?.text ?? ''}` : 'leaving maintenance');
    }
    this.maintenance = s.maintenance;
    this.maintenanceComment = s.maintenanceComment?.text ?? '';
    if (s.shutdownRequested) {
      this.log.info('shutdown requested by an operator');
      this.requestStop();
      return;
    }
    this.stateMayHaveChanged();
  }

  private currentState(): WorkerState {
    if (this.isStopping) return WorkerState.TERMINATING;
    if (this.maintenance) return this.runners.size ? WorkerState.MAINTENANCE_PENDING : WorkerState.MAINTENANCE_MODE;
    return this.runners.size ? WorkerState.RUNNING : WorkerState.IDLE;
  }

  /** Tells the server at once when our state moved (maintenance drained, first job started, …). */
  private stateMayHaveChanged(): void {
    this.writeStatus();
    const state = this.currentState();
    if (!this.isStopping && state !== this.heartbeats.lastReported) void this.sendHeartbeat(state);
  }

  private usedSlots(): number {
    let used = 0;
    for (const r of this.runners.values()) used += r.slots;
    return used;
  }

  private start(a: JobAssignment): void {
    const job = a.job!;
    const existing = this.runners.get(job.id);
    if (existing?.attempt === a.attempt) return; // a re-sent assignment we already run
    if (this.isStopping || this.maintenance) {
      this.log.info(`job ${job.id}: handing back, this worker is ${this.isStopping ? 'stopping' : 'in maintenance'}`);
      void this.reporter.report({ jobId: job.id, attempt: a.attempt, workerName: this.opts.name, state: JobState.QUEUED }).outcome.then((o) => {
        if (o.kind === 'refused') this.log.warn(`could not hand back job ${job.id}: ${o.error.rawMessage}`);
      });
      return;
    }
    existing?.abandon(`attempt ${a.attempt} replaces it`);
    // Logged once it has started (or could not start): one line per job fewer to write.
    const runner = new JobRunner(job, a.attempt, {
      apis: this.pool,
      reporter: this.reporter,
      workerName: this.opts.name,
      log: this.log,
      jobsDir: this.jobsDir,
      killGraceMs: this.opts.killGraceMs,
      jobUser: this.opts.jobUser,
      secretEnv: a.secretEnv,
    });
    this.runners.set(job.id, runner);
    this.stateMayHaveChanged();
    void runner.finished.finally(() => {
      if (this.runners.get(job.id) === runner) this.runners.delete(job.id);
      if (runner.outcome !== undefined) this.metrics.jobsFinished.inc({ state: JobState[runner.outcome] });
      this.stateMayHaveChanged();
    });
  }

  private sampleSystem(): SystemInfo {
    this.system = this.sampler.sample();
    return this.system;
  }

  private sendHeartbeat(state: WorkerState): Promise<void> {
    return this.heartbeats.send(state);
  }

  private writeStatus(): void {
    this.status.changed();
  }

  private localStatus(): LocalStatus {
    const used = this.usedSlots();
    return {
      name: this.opts.name,
      pid: process.pid,
      apiUrl: this.api.url,
      version: this.opts.version ?? VERSION,
      state: this.localStateName(),
      queues: this.queues,
      concurrency: this.concurrency,
      usedSlots: used,
      freeSlots: Math.max(0, this.concurrency - used),
      jobs: [...this.runners.values()].map((r) => ({ jobId: r.jobId, attempt: r.attempt, slots: r.slots })),
      maintenance: this.maintenance,
      maintenanceComment: this.maintenanceComment,
      draining: this.isStopping,
      startedAt: this.startedAt.toISOString(),
      updatedAt: new Date().toISOString(),
    };
  }

  private localStateName(): string {
    return this.heartbeats.lastReported === WorkerState.STARTING && !this.isStopping ? 'STARTING' : WorkerState[this.currentState()]!;
  }

  /** What `edge status` readers act on at once; IDLE ⇄ RUNNING follows the jobs, which may lag by a second. */
  private significantStatus(): string {
    const state = this.localStateName();
    return [state === 'RUNNING' ? 'IDLE' : state, this.maintenance, this.maintenanceComment, this.isStopping, this.queues.join(','), this.concurrency, this.api.url].join('|');
  }
}

export { localAuthor } from './maintenance-control.js';
