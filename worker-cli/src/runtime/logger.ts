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

/**
 * Where log lines go: information lines written together, at most LINE_DELAY_MS after the first of
 * them; warnings and errors at once (after the lines queued before them); and whatever is queued when
 * the process exits. A busy worker writes two lines per job: one write each, to a pipe a log
 * collector reads, was 8-9% of its CPU (docs/performance.md, issue 15), and jobs end in turns of
 * their own, so a flush per turn saved nothing. Only a SIGKILL loses lines, those of its last 0.1 s.
 */
export const LINE_DELAY_MS = 100;

export class LineSink {
  private queued: string[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly out: (text: string) => void) {
    process.on('exit', () => this.flush());
  }

  later(line: string): void {
    this.queued.push(line);
    this.timer ??= setTimeout(() => this.flush(), LINE_DELAY_MS).unref();
  }

  now(line: string): void {
    this.queued.push(line);
    this.flush();
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.queued.length) return;
    const text = this.queued.join('');
    this.queued = [];
    this.out(text);
  }
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
 * object per line with level, time and msg), to stderr or appended to a file, through a LineSink:
 * writes are synchronous, so the last lines before an exit are not lost.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const rank = LOG_LEVELS.indexOf(opts.level);
  if (opts.file) fs.mkdirSync(path.dirname(path.resolve(opts.file)), { recursive: true });
  const sink = new LineSink(opts.file ? (text) => fs.appendFileSync(opts.file!, text) : (text) => process.stderr.write(text));
  if (opts.format === 'json') {
    // pino hands each line to this stream; the sink decides when it is written.
    let urgent = false;
    const dest = { write: (line: string) => (urgent ? sink.now(line) : sink.later(line)) };
    const p = pino({ level: opts.level, base: { pid: process.pid, ...opts.base }, timestamp: pino.stdTimeFunctions.isoTime }, dest);
    const now = (f: (m: string) => void) => (m: string) => {
      urgent = true;
      try {
        f(m);
      } finally {
        urgent = false;
      }
    };
    return { info: (m) => p.info(m), warn: now((m) => p.warn(m)), error: now((m) => p.error(m)) };
  }
  const info = lineLogger((l) => sink.later(l));
  const urgent = lineLogger((l) => sink.now(l));
  const keep = (level: LogLevel, f: (m: string) => void) => (LOG_LEVELS.indexOf(level) >= rank ? f : () => {});
  return { info: keep('info', info.info), warn: keep('warn', urgent.warn), error: keep('error', urgent.error) };
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
