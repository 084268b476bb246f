import os from 'node:os';
import { ConnectError } from '@connectrpc/connect';
import type { SystemInfo } from '../../../gen/edge/v1/worker_pb.js';
import { MaintenanceChange } from '../../../gen/edge/v1/worker_service_pb.js';
import type { ApiPool } from '../lib/api.js';
import { healthProblems, type HealthLimits } from './auto-maintenance.js';
import type { Logger } from './logger.js';
import { requestFilePath, takeRequest } from './status-file.js';

export interface MaintenanceControlOptions {
  pool: ApiPool;
  workerName: string;
  stateDir: string;
  log: Logger;
  /** Enter maintenance by itself when the machine crosses these (off when absent). */
  limits?: HealthLimits;
  isStopping(): boolean;
  /** Whether the worker is in maintenance now, as the server last said. */
  inMaintenance(): boolean;
  system(): SystemInfo | undefined;
  /** Tells the server our state now (a heartbeat), so its answer brings the new settings. */
  refresh(): Promise<void>;
}

/**
 * How the worker itself asks for maintenance: on a local request (`edge maintenance on|off`, left
 * in the state dir, then SIGUSR2) and automatically when the machine crosses a health threshold,
 * leaving again when it recovers (only if it was the one to enter).
 */
export class MaintenanceControl {
  /** We put ourselves in maintenance because of a health threshold, so we may take us out again. */
  private automatic = false;

  constructor(private readonly o: MaintenanceControlOptions) {}

  /** Acts on what `edge maintenance on|off` left in the state dir. */
  async handleLocalRequest(): Promise<void> {
    const req = takeRequest(requestFilePath(this.o.stateDir, this.o.workerName));
    if (!req) return;
    this.o.log.info(`local request: maintenance ${req.maintenance ? 'on' : 'off'}${req.comment ? ` (${req.comment})` : ''} by ${req.author}`);
    if (!req.maintenance) this.automatic = false;
    await this.set(req.maintenance, req.comment, req.author);
  }

  /** Automatic maintenance: in when a health threshold is crossed, out again when it recovers. */
  async checkHealth(): Promise<void> {
    const { limits } = this.o;
    const info = this.o.system();
    if (!limits || !info || this.o.isStopping()) return;
    const problems = healthProblems(limits, info);
    const author = `${this.o.workerName} (automatic)`;
    if (problems.length && !this.o.inMaintenance()) {
      this.automatic = true;
      this.o.log.warn(`entering maintenance automatically: ${problems.join('; ')}`);
      await this.set(true, `automatic: ${problems.join('; ')}`, author);
    } else if (!problems.length && this.automatic && this.o.inMaintenance()) {
      this.automatic = false;
      this.o.log.info('health recovered: leaving automatic maintenance');
      await this.set(false, '', author);
    }
  }

  private async set(on: boolean, comment: string, author: string): Promise<void> {
    try {
      await this.o.pool.api.workers.setWorkerMaintenance(
        { name: this.o.workerName, change: on ? MaintenanceChange.ENTER : MaintenanceChange.EXIT, comment, author },
        { timeoutMs: 10_000 },
      );
      // The server pushes the change on our stream; a heartbeat makes sure we have it even if not.
      await this.o.refresh();
    } catch (err) {
      this.o.log.error(`could not turn maintenance ${on ? 'on' : 'off'}: ${ConnectError.from(err).rawMessage}`);
    }
  }
}

/** Who asks, as stored with maintenance comments: user@host. */
export function localAuthor(): string {
  let user = 'unknown';
  try {
    user = os.userInfo().username;
  } catch {
    // no passwd entry (containers): keep "unknown"
  }
  return `${user}@${os.hostname()}`;
}
