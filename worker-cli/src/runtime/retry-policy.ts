import { Code, ConnectError } from '@connectrpc/connect';
import { Backoff } from './backoff.js';

/**
 * The one retry policy of the worker's loops (registration, the job stream, heartbeats, state
 * reports, log uploads): which answers from the server are final and how long to wait between tries.
 * Anything else (the server restarting, a replica down, a network cut, a timeout) is tried again.
 */

/** Codes that say the server refused the call itself: the same call cannot succeed later. */
export const REFUSAL_CODES: readonly Code[] = [Code.InvalidArgument, Code.FailedPrecondition, Code.NotFound, Code.PermissionDenied, Code.AlreadyExists];

/** Whether an error is the server's final refusal of the call (see REFUSAL_CODES). */
export function isRefusal(err: unknown): boolean {
  return REFUSAL_CODES.includes(ConnectError.from(err).code);
}

/** Waits between tries: quick at first (200 ms), at most `maxMs`, jittered so workers that failed together spread out. */
export function retryBackoff(maxMs = 5_000): Backoff {
  return new Backoff(200, maxMs);
}

/** After a failed call: move to the next API URL, if there is one, and say where the next try goes. */
export function nextTry(pool: { size: number; failover(): string }): string {
  return pool.size > 1 ? `trying ${pool.failover()}` : 'retrying';
}
