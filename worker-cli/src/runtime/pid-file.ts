import fs from 'node:fs';
import path from 'node:path';

/** The pid file of a worker: `<stateDir>/<name>.pid`, holding the worker process's pid. */
export function pidFilePath(stateDir: string, name: string): string {
  return path.join(stateDir, `${name}.pid`);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function readPid(file: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text.trim(), 10);
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** Claims the pid file for this process; refuses when a live process already holds it. */
export function writePidFile(file: string, name: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const existing = readPid(file);
  if (existing && existing !== process.pid && isAlive(existing)) {
    throw new Error(`a worker named ${name} already runs here (pid ${existing}, pid file ${file})`);
  }
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${process.pid}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function removePidFile(file: string): void {
  if (readPid(file) === process.pid) fs.rmSync(file, { force: true });
}

/** Names of the workers that have pid files in a state dir. */
export function listPidFiles(stateDir: string): string[] {
  try {
    return fs.readdirSync(stateDir).filter((f) => f.endsWith('.pid')).map((f) => f.slice(0, -4));
  } catch {
    return [];
  }
}
