import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';

/** What the runtime needs of a logger; the CLI passes one that writes to stderr or a file. */
export interface Logger {
  info(msg: string): void;
  warn(msg: string): void;
  error(msg: string): void;
}

export type LogFormat = 'text' | 'json';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
export const LOG_FORMATS: LogFormat[] = ['text', 'json'];
export const LOG_LEVELS: LogLevel[] = ['debug', 'info', 'warn', 'error'];

export function lineLogger(write: (line: string) => void = (l) => process.stderr.write(l)): Logger {
  const at = (level: string) => (msg: string) => write(`${new Date().toISOString()} ${level} ${msg}\n`);
  return { info: at('INFO'), warn: at('WARN'), error: at('ERROR') };
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} };

export interface LoggerOptions {
  format: LogFormat;
  level: LogLevel;
  /** Append to this file instead of writing to stderr. */
  file?: string;
  /** Fields on every JSON line, e.g. { worker: name }. */
  base?: Record<string, string>;
}

/**
 * Human-readable lines (the default) or structured JSON lines from pino (`--log-format json`, one
 * object per line with level, time and msg), to stderr or appended to a file. Writes are
 * synchronous so that the last lines before an exit are never lost.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const rank = LOG_LEVELS.indexOf(opts.level);
  if (opts.format === 'json') {
    const dest = pino.destination({ dest: opts.file ?? 2, sync: true, append: true, mkdir: true });
    const p = pino({ level: opts.level, base: { pid: process.pid, ...opts.base }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
    return { info: (m) => p.info(m), warn: (m) => p.warn(m), error: (m) => p.error(m) };
  }
  if (opts.file) fs.mkdirSync(path.dirname(path.resolve(opts.file)), { recursive: true });
  const write = opts.file ? (line: string) => fs.appendFileSync(opts.file!, line) : (line: string) => process.stderr.write(line);
  const lines = lineLogger(write);
  const keep = (level: LogLevel, f: (m: string) => void) => (LOG_LEVELS.indexOf(level) >= rank ? f : () => {});
  return { info: keep('info', lines.info), warn: keep('warn', lines.warn), error: keep('error', lines.error) };
}

/**
 * Logs a message at once, then counts its repeats for `windowMs` and says how many there were at the
 * end of that window (with the last one's error). Under overload a server can fail thousands of calls
 * a second for one reason (the database pool's acquire timeout): a line each, written synchronously
 * to a pipe, blocked its event loop for seconds and made the overload worse.
 */
export function repeatLimited(log: (msg: string, err?: unknown) => void, windowMs = 1000): (msg: string, err?: unknown) => void {
  const seen = new Map<string, { more: number; last?: unknown }>();
  return (msg, err) => {
    const s = seen.get(msg);
    if (s) {
      s.more++;
      s.last = err;
      return;
    }
    const entry: { more: number; last?: unknown } = { more: 0 };
    seen.set(msg, entry);
    setTimeout(() => {
      seen.delete(msg);
      if (entry.more) log(`${msg} (${entry.more} more like it in ${windowMs / 1000} s)`, entry.last);
    }, windowMs).unref();
    log(msg, err);
  };
}
