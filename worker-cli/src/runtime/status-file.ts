import fs from 'node:fs';
import path from 'node:path';

/**
 * The worker's status as `edge status` reads it: `<state-dir>/<name>.status.json`, rewritten
 * atomically (see StatusFileWriter for how often).
 */
export interface LocalStatus {
  name: string;
  pid: number;
  apiUrl: string;
  version: string;
  /** Worker state name as the worker sees itself, e.g. IDLE, MAINTENANCE_MODE. */
  state: string;
  queues: string[];
  concurrency: number;
  usedSlots: number;
  freeSlots: number;
  jobs: { jobId: string; attempt: number; slots: number }[];
  maintenance: boolean;
  maintenanceComment: string;
  /** The worker is draining to exit (SIGINT/SIGTERM, `edge stop` or an operator's shutdown). */
  draining: boolean;
  startedAt: string;
  updatedAt: string;
}

export const statusFilePath = (stateDir: string, name: string) => path.join(stateDir, `${name}.status.json`);
/** Where `edge maintenance` leaves its request before signalling the worker (SIGUSR2). */
export const requestFilePath = (stateDir: string, name: string) => path.join(stateDir, `${name}.request.json`);

export function writeJsonAtomically(file: string, value: unknown): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, JSON.stringify(value, null, 2) + '\n', { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export interface StatusFileWriterOptions {
  file: string;
  /** The status as it stands now; called only when a write is due. */
  status(): LocalStatus;
  /**
   * What an operator acts on at once (maintenance, draining, settings): when it differs from what
   * the file holds, the file is written at once. Job churn alone is written at most once per interval.
   */
  significant(): string;
  onError(err: Error): void;
  intervalMs?: number;
  now?: () => number;
}

/**
 * Writes the status file at most once per interval (1 s) while jobs come and go, always ending with
 * a trailing write so the file never lags the worker by more than that; a significant change is
 * written at once. Rewriting it atomically on every job start and end cost a busy worker more than
 * anything else it does per job but the spawn.
 */
export class StatusFileWriter {
  private readonly intervalMs: number;
  private readonly now: () => number;
  private lastWriteAt = -Infinity;
  private lastKey: string | undefined;
  private trailing: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly opts: StatusFileWriterOptions) {
    this.intervalMs = opts.intervalMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /** Something in the status changed. */
  changed(): void {
    if (this.closed) return;
    const at = this.now();
    if (this.opts.significant() !== this.lastKey || at - this.lastWriteAt >= this.intervalMs) {
      this.write(at);
      return;
    }
    // The timer does not keep the process alive: close() comes before the worker exits anyway.
    this.trailing ??= setTimeout(() => {
      this.trailing = undefined;
      if (!this.closed) this.write(this.now());
    }, this.lastWriteAt + this.intervalMs - at).unref();
  }

  /** No more writes (the worker removes the file as it exits). */
  close(): void {
    this.closed = true;
    clearTimeout(this.trailing);
    this.trailing = undefined;
  }

  private write(at: number): void {
    clearTimeout(this.trailing);
    this.trailing = undefined;
    this.lastWriteAt = at;
    this.lastKey = this.opts.significant();
    try {
      writeJsonAtomically(this.opts.file, this.opts.status());
    } catch (err) {
      this.opts.onError(err as Error);
    }
  }
}

/** The status, or an explanation of why it cannot be read. */
export function readStatus(file: string): LocalStatus | { error: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    return { error: `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  try {
    const s = JSON.parse(text) as LocalStatus;
    if (typeof s.state !== 'string' || typeof s.name !== 'string') return { error: `${file} does not hold a worker status` };
    return s;
  } catch {
    return { error: `${file} is not valid JSON` };
  }
}

/** A local maintenance request, written by `edge maintenance on|off` for the worker to act on. */
export interface LocalRequest {
  maintenance: boolean;
  comment: string;
  author: string;
}

/** Reads and removes the pending request, if any. */
export function takeRequest(file: string): LocalRequest | undefined {
  try {
    const req = JSON.parse(fs.readFileSync(file, 'utf8')) as LocalRequest;
    fs.rmSync(file, { force: true });
    return req;
  } catch {
    return undefined;
  }
}
