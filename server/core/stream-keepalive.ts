/** Long streams say something at least this often, however quiet they are. */
export const DEFAULT_STREAM_KEEPALIVE_MS = 30_000;
