import { Code, ConnectError } from '@connectrpc/connect';
import type { FetchJobsResponse } from '../../../gen/edge/v1/worker_service_pb.js';
import type { ApiPool } from '../lib/api.js';
import { sleep } from './backoff.js';
import type { Logger } from './logger.js';
import { nextTry, retryBackoff } from './retry-policy.js';

export interface StreamSessionOptions {
  pool: ApiPool;
  workerName: string;
  log: Logger;
  /** Aborted once the server knows the worker stops: ends the stream and every wait. */
  stopping: AbortSignal;
  /** A stop was asked for (the stream may still be open until `stopping` aborts). */
  isStopping(): boolean;
  /** Each message of the stream, in order. */
  onMessage(ev: FetchJobsResponse): void;
  /** The server does not know this worker: register again; false when the worker should stop. */
  reRegister(): Promise<boolean>;
}

/**
 * Holds the worker's FetchJobs stream until the worker stops: reconnects with backoff (moving to the
 * next replica when there is one), and registers again when the server has forgotten the worker.
 */
export async function holdJobStream(o: StreamSessionOptions): Promise<void> {
  const backoff = retryBackoff(10_000);
  while (!o.isStopping()) {
    try {
      const stream = o.pool.api.workers.fetchJobs({ workerName: o.workerName }, { signal: o.stopping });
      for await (const ev of stream) {
        backoff.reset();
        o.onMessage(ev);
      }
      if (!o.isStopping()) o.log.warn(`job stream ended by the server; ${nextTry(o.pool)}`);
    } catch (err) {
      if (o.isStopping()) break;
      const e = ConnectError.from(err);
      if (e.code === Code.NotFound) {
        o.log.warn(`server does not know this worker (${e.rawMessage}); registering again`);
        if (!(await o.reRegister())) break;
        continue;
      }
      o.log.warn(`job stream lost (${e.rawMessage}); ${nextTry(o.pool)}`);
    }
    await sleep(backoff.next(), o.stopping);
  }
}
