import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import './credentials.js';
import { tempDir } from './databases.js';
import { waitFor } from './wait.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
/** The built CLI, as a user runs it (`npm test` builds first). */
export const EDGE_BIN = path.join(ROOT, 'worker-cli/bin/run.js');
/**
 * How long a test waits for a process it started to come up (a worker to connect): seconds on a quiet
 * machine, but far more while other suites share its two cores, and no test asserts that time.
 */
export const PROCESS_START_MS = 60_000;

const running = new Set<ChildProcess>();

/** Every process a test spawned and did not stop is killed when the test run ends. */
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

export interface Proc {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  exited: Promise<number | string>;
  /** Sends a signal and waits for the exit; SIGKILL after `killAfterMs`. */
  stop(signal?: NodeJS.Signals, killAfterMs?: number): Promise<number | string>;
}

/**
 * Runs `edge <args>`; `nodeArgs` go to node itself (e.g. `--cpu-prof`, which NODE_OPTIONS may not
 * carry), by default those of EDGE_PROFILE_NODE_ARGS (bench/tools set it around a server start).
 */
export function spawnEdge(args: string[], env: Record<string, string> = {}, nodeArgs: string[] = process.env.EDGE_PROFILE_NODE_ARGS?.split(' ').filter(Boolean) ?? []): Proc {
  const child = spawn(process.execPath, [...nodeArgs, EDGE_BIN, ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  return {
    child,
    pid: child.pid!,
    output: () => out,
    exited,
    async stop(signal = 'SIGINT', killAfterMs = 20_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
}

export interface ServerProc extends Proc {
  readonly url: string;
}

export async function startServerProcess(databaseUrl: string, extraArgs: string[] = [], port = 0): Promise<ServerProc> {
  const dataDir = tempDir('server');
  const proc = spawnEdge(['server', '--port', String(port), '--data-dir', dataDir, '--database', databaseUrl, ...extraArgs]);
  const exitedEarly = proc.exited.then((code) => {
    throw new Error(`server exited (${code}) before listening: ${proc.output()}`);
  });
  const url = await Promise.race([
    waitFor('the server to listen', () => /listening on (https?:\/\/\S+)/.exec(proc.output())?.[1], 30_000),
    exitedEarly,
  ]);
  exitedEarly.catch(() => undefined);
  return { ...proc, url };
}

export interface WorkerProcOptions {
  name: string;
  queues?: string;
  concurrency?: number;
  stateDir?: string;
  /** More `edge worker` flags. */
  args?: string[];
  env?: Record<string, string>;
  /** Options of node itself. */
  nodeArgs?: string[];
}

export interface WorkerProc extends Proc {
  readonly name: string;
  readonly stateDir: string;
}

export function startWorkerProcess(apiUrl: string, opts: WorkerProcOptions): WorkerProc {
  const stateDir = opts.stateDir ?? tempDir('worker');
  const args = ['worker', '--api-url', apiUrl, '--name', opts.name, '--state-dir', stateDir, '-c', String(opts.concurrency ?? 1)];
  if (opts.queues) args.push('-q', opts.queues);
  args.push(...(opts.args ?? []));
  return { ...spawnEdge(args, opts.env, opts.nodeArgs), name: opts.name, stateDir };
}

/** Runs a CLI command to its end. */
export async function runEdge(args: string[], env: Record<string, string> = {}): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [EDGE_BIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const code = await new Promise<number | string>((resolve) => child.once('exit', (c, s) => resolve(c ?? s ?? -1)));
  running.delete(child);
  return { code, stdout, stderr };
}

/** Whether any process of this process group still runs. */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch {
    return false;
  }
}
