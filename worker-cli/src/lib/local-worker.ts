import fs from 'node:fs';
import os from 'node:os';
import { isAlive, listPidFiles, pidFilePath, readPid } from '../runtime/pid-file.js';
import { readStatus, requestFilePath, statusFilePath, writeJsonAtomically, type LocalRequest, type LocalStatus } from '../runtime/status-file.js';

/** Finding and talking to the worker process on this machine, through its files in the state dir. */

/** Exit codes of the local commands, so that scripts can tell the cases apart. */
export const LOCAL_EXIT = {
  /** No pid file: no worker of that name runs here. */
  noWorker: 3,
  /** A pid file, but its process is gone (the worker crashed or was killed). */
  pidGone: 4,
  /** The worker runs but its status file cannot be read. */
  statusUnreadable: 5,
} as const;

export class LocalWorkerError extends Error {
  constructor(
    message: string,
    readonly exit: number,
  ) {
    super(message);
  }
}

/** The worker to act on: --name, else the only worker with a pid file here, else the host name. */
export function localWorkerName(stateDir: string, name: string | undefined): string {
  if (name) return name;
  const names = listPidFiles(stateDir);
  if (names.length === 1) return names[0]!;
  if (names.length > 1 && !names.includes(os.hostname())) {
    throw new LocalWorkerError(`several workers run here (${names.join(', ')}); pick one with --name`, 2);
  }
  return os.hostname();
}

/** The pid of the live worker, or a LocalWorkerError saying why there is none. */
export function livePid(stateDir: string, name: string): number {
  const file = pidFilePath(stateDir, name);
  const pid = readPid(file);
  if (!pid) throw new LocalWorkerError(`no worker named ${name} runs here (no pid file ${file})`, LOCAL_EXIT.noWorker);
  if (!isAlive(pid)) throw new LocalWorkerError(`worker ${name} is not running (pid ${pid} from ${file} is gone)`, LOCAL_EXIT.pidGone);
  return pid;
}

export function localStatus(stateDir: string, name: string): LocalStatus {
  livePid(stateDir, name);
  const status = readStatus(statusFilePath(stateDir, name));
  if ('error' in status) throw new LocalWorkerError(`worker ${name} runs but its status is unreadable: ${status.error}`, LOCAL_EXIT.statusUnreadable);
  return status;
}

/** Leaves a maintenance request for the worker and signals it (SIGUSR2) to act on it. */
export function sendLocalRequest(stateDir: string, name: string, req: LocalRequest): number {
  const pid = livePid(stateDir, name);
  fs.mkdirSync(stateDir, { recursive: true });
  writeJsonAtomically(requestFilePath(stateDir, name), req);
  process.kill(pid, 'SIGUSR2');
  return pid;
}
