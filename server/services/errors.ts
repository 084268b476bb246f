import { Code, ConnectError } from '@connectrpc/connect';
import { StoreError } from '../store/errors.js';

const CODES: Record<StoreError['kind'], Code> = {
  'not-found': Code.NotFound,
  conflict: Code.FailedPrecondition,
  stale: Code.FailedPrecondition,
  'out-of-range': Code.OutOfRange,
  exists: Code.AlreadyExists,
  forbidden: Code.PermissionDenied,
  busy: Code.Unavailable,
};

/** How long a caller told Unavailable should wait before it tries again, as gRPC clients read it. */
const RETRY_HINT = { 'grpc-retry-pushback-ms': '1000' };

export const invalid = (message: string) => new ConnectError(message, Code.InvalidArgument);
export const notFound = (what: string) => new ConnectError(`${what} not found`, Code.NotFound);

/**
 * Turns whatever a handler threw into a ConnectError: store outcomes keep their meaning; anything
 * unexpected becomes Internal with a generic message, the original kept as cause and logged.
 */
export function toConnectError(err: unknown, log: (msg: string, err: unknown) => void): ConnectError {
  if (err instanceof ConnectError) return err;
  if (err instanceof StoreError) return new ConnectError(err.message, CODES[err.kind], err.kind === 'busy' ? RETRY_HINT : undefined);
  if (isUnavailable(err)) {
    log('database unavailable', err);
    return new ConnectError('the database is unavailable; try again shortly', Code.Unavailable, RETRY_HINT, undefined, err);
  }
  log('internal error', err);
  return new ConnectError('internal error', Code.Internal, undefined, undefined, err);
}

function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    typeof code === 'string' &&
    ['ECONNREFUSED', 'ECONNRESET', 'PROTOCOL_CONNECTION_LOST', 'ETIMEDOUT', 'SQLITE_BUSY', 'ER_LOCK_DEADLOCK', 'ER_LOCK_WAIT_TIMEOUT', 'ER_UNKNOWN_COM_ERROR'].includes(code)
  ) || (err instanceof Error && err.name === 'KnexTimeoutError');
}
