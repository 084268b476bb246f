import fs from 'node:fs';
import path from 'node:path';

/**
 * The worker's status as `edge status` reads it: `<state-dir>/<name>.status.json`, rewritten
 * atomically whenever the worker's state, jobs or settings change and at every heartbeat.
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
