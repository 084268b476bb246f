import { ConnectError } from '@connectrpc/connect';
import { WorkerState, type SystemInfo } from '../../../gen/edge/v1/worker_pb.js';
import type { HeartbeatResponse } from '../../../gen/edge/v1/worker_service_pb.js';
import type { ApiPool } from '../lib/api.js';
import { sleep } from './backoff.js';
import type { Logger } from './logger.js';
import type { WorkerMetrics } from './worker-metrics.js';

export interface HeartbeatSource {
  pool: ApiPool;
  workerName: string;
  log: Logger;
  metrics: WorkerMetrics;
  /** The attempts the worker holds now. */
  held(): { jobId: string; attempt: number }[];
  /** The latest sample of the machine. */
  system(): SystemInfo | undefined;
  /** The server answered a heartbeat that reported `state`. */
  answered(res: HeartbeatResponse, state: WorkerState): void;
}

/**
 * The worker's heartbeats: sent one at a time, so a late IDLE never lands after TERMINATING; a
 * failed one is not retried (the next comes on time, and the server waits several periods before it
 * presumes the worker lost).
 */
export class Heartbeats {
  private chain: Promise<void> = Promise.resolve();
  /** The state last reported (or being reported). */
  lastReported: WorkerState = WorkerState.STARTING;
  /** Set from the server's answer at registration. */
  periodMs = 10_000;

  constructor(private readonly src: HeartbeatSource) {}

  send(state: WorkerState): Promise<void> {
    this.lastReported = state;
    this.chain = this.chain.then(() => this.once(state));
    return this.chain;
  }

  /** Heartbeats every period until `until` aborts; `beforeEach` samples and checks the machine. */
  async loop(until: AbortSignal, beforeEach: () => Promise<WorkerState>): Promise<void> {
    while (!until.aborted) {
      await sleep(this.periodMs, until);
      if (until.aborted) return;
      await this.send(await beforeEach());
    }
  }

  private async once(state: WorkerState): Promise<void> {
    const { pool, metrics, log } = this.src;
    try {
      const res = await pool.api.workers.heartbeat(
        { workerName: this.src.workerName, state, jobs: this.src.held(), systemInfo: this.src.system() },
        { timeoutMs: 10_000 },
      );
      metrics.heartbeats.inc({ outcome: 'ok' });
      this.src.answered(res, state);
    } catch (err) {
      metrics.heartbeats.inc({ outcome: 'failed' });
      log.warn(`heartbeat failed: ${ConnectError.from(err).rawMessage}`);
    }
  }
}
