import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import os from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { SPAWN_HELPER_PY } from './spawn-helper.py.js';
import { signalGroup } from './process-group.js';

/** Where a job's output goes when the helper starts it: the file the runner's descriptor is open on. */
export type JobSpawnOptions = SpawnOptions & { outputFile?: string };

const SIGNAL_NAMES = new Map(Object.entries(os.constants.signals).map(([name, n]) => [n, name as NodeJS.Signals]));

/** A job process the helper started, with the part of ChildProcess's interface the job runner uses. */
class HelperChild extends EventEmitter {
  constructor(readonly spawnfile: string) {
    super();
  }
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly stdout = null;
  readonly stderr = null;
}

/**
 * Starts job processes from a small helper process instead of the worker itself. Node forks by
 * copying the whole worker's address space, and the child then tears that copy down again at exec:
 * on the machines measured, spawning `true` cost the worker about 5 ms of CPU and the child another
 * 5 ms, against about 3 ms for both from a small process (docs/performance.md, issue 15). The helper
 * is the Python program in spawn-helper.py.ts; off Linux, where there is no python3 (3.8 or later), or for what it does not do (a
 * job run as another user, output through pipes for masking), node's spawn starts the job as before.
 * `EDGE_SPAWN_HELPER=off` turns it off.
 */
export class SpawnHelper {
  private helper: ChildProcess | undefined;
  private readonly children = new Map<string, HelperChild>();
  private nextId = 1;
  private pending = '';
  private broken = false;
  /** The helper has said it is ready; until then node starts jobs, so that no job waits for it. */
  private ready = false;
  private readyWaiters: (() => void)[] = [];

  /** The helper's pid once it runs. */
  get pid(): number | undefined {
    return this.helper?.pid;
  }

  /**
   * Starts the helper now (a worker does at its start), so that it is ready by the first job;
   * resolves once it is, or once it turned out it cannot run.
   */
  prepare(): Promise<void> {
    if (this.ready || this.broken || !this.started()) return Promise.resolve();
    return new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  /** Closes the helper's input: it leaves once its last job has ended. */
  stop(): void {
    this.helper?.stdin?.end();
  }

  /** node's spawn, or the helper when it can start this job. */
  readonly spawn = ((cmd: string, args: readonly string[], options: JobSpawnOptions) => {
    const start = this.request(cmd, args, options);
    return start ?? spawn(cmd, args, options);
  }) as unknown as typeof spawn;

  private request(cmd: string, args: readonly string[], options: JobSpawnOptions): ChildProcess | undefined {
    const stdio = options.stdio;
    const fileOutput = Array.isArray(stdio) && stdio[0] === 'ignore' && typeof stdio[1] === 'number' && stdio[2] === stdio[1];
    if (this.broken || !options.outputFile || !fileOutput || options.uid !== undefined || options.gid !== undefined) return undefined;
    const helper = this.started();
    if (!helper || !this.ready) return undefined;
    const id = String(this.nextId);
    const env = Object.entries(options.env ?? process.env).flatMap(([k, v]) => (v === undefined ? [] : [`${k}=${v}`]));
    const tokens = [id, String(options.cwd ?? ''), options.outputFile, String(args.length + 1), cmd, ...args, ...env];
    // A NUL cannot reach a process's argv or environment: node's spawn says so with its own error.
    if (tokens.some((t) => t.includes('\0'))) return undefined;
    this.nextId++;
    const child = new HelperChild(cmd);
    this.children.set(id, child);
    if (this.children.size === 1) this.hold(true);
    const payload = Buffer.from(tokens.join('\0'));
    // Jobs pushed together go to the helper in one write.
    const stdin = helper.stdin!;
    if (!stdin.writableCorked) {
      stdin.cork();
      process.nextTick(() => stdin.uncork());
    }
    stdin.write(Buffer.concat([Buffer.from(`${payload.length}\n`), payload]));
    return child as unknown as ChildProcess;
  }

  /** The helper, started on first use; undefined where it cannot run. */
  private started(): ChildProcess | undefined {
    if (this.helper || this.broken) return this.helper;
    const python = pythonForHelper();
    if (!python) {
      this.broken = true;
      return undefined;
    }
    // Its own process group: a Ctrl-C at the terminal reaches the worker, which stops its jobs and
    // must still hear how they ended.
    const helper = spawn(python, ['-I', '-S', '-c', SPAWN_HELPER_PY], { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
    helper.stdout!.setEncoding('utf8');
    helper.stdout!.on('data', (chunk: string) => this.answers(chunk));
    helper.stdin!.on('error', () => undefined); // it died: 'exit' below says so
    helper.once('exit', () => this.lost());
    helper.once('error', () => this.lost());
    this.helper = helper;
    this.hold(false);
    return helper;
  }

  /** Keeps the worker's process alive while a job runs through the helper (an idle helper does not). */
  private hold(on: boolean): void {
    const helper = this.helper;
    if (!helper) return;
    for (const handle of [helper, helper.stdout as Readable & { ref?(): void; unref?(): void }, helper.stdin as Writable & { ref?(): void; unref?(): void }]) {
      if (on) handle?.ref?.();
      else handle?.unref?.();
    }
  }

  private answers(chunk: string): void {
    this.pending += chunk;
    let nl: number;
    while ((nl = this.pending.indexOf('\n')) >= 0) {
      const [kind, id, a, b] = this.pending.slice(0, nl).split('\t');
      this.pending = this.pending.slice(nl + 1);
      if (kind === 'R') {
        this.ready = true;
        this.settleReady();
        continue;
      }
      const child = this.children.get(id!);
      if (!child) continue;
      if (kind === 'S') {
        child.pid = Number(a);
        child.emit('spawn');
      } else if (kind === 'F') {
        this.forget(id!);
        // As node's spawn says it: "spawn nope ENOENT".
        child.emit('error', Object.assign(new Error(`spawn ${child.spawnfile} ${a}`), { code: a, syscall: `spawn ${child.spawnfile}`, path: child.spawnfile }));
      } else if (kind === 'E') {
        this.forget(id!);
        child.exitCode = a === '' ? null : Number(a);
        child.signalCode = b === '' ? null : (SIGNAL_NAMES.get(Number(b)) ?? null);
        child.emit('exit', child.exitCode, child.signalCode);
      }
    }
  }

  private settleReady(): void {
    for (const resolve of this.readyWaiters.splice(0)) resolve();
  }

  private forget(id: string): void {
    this.children.delete(id);
    if (!this.children.size) this.hold(false);
  }

  /**
   * The helper died (killed by hand, out of memory): its jobs cannot be watched any more, so their
   * groups are killed and they end as killed; jobs from now on start through node's spawn.
   */
  private lost(): void {
    if (this.broken) return;
    this.broken = true;
    this.ready = false;
    this.settleReady();
    for (const [id, child] of this.children) {
      this.children.delete(id);
      if (child.pid === undefined) {
        child.emit('error', new Error('spawn helper stopped before the job started'));
        continue;
      }
      signalGroup(child.pid, 'SIGKILL');
      child.signalCode = 'SIGKILL';
      child.emit('exit', null, 'SIGKILL');
    }
  }
}

/**
 * The system's python3 before one found on PATH: the helper needs only the standard library, and a
 * version manager's shim on PATH (pyenv) costs a second of CPU per start. A python3 that cannot run
 * it (missing, older than 3.8) exits before it says it is ready, and node starts the jobs.
 */
function pythonForHelper(): string | undefined {
  // posix_spawn's setsid is glibc's (Linux); elsewhere python refuses it, and node starts the jobs.
  if (process.env.EDGE_SPAWN_HELPER === 'off' || process.platform !== 'linux') return undefined;
  return ['/usr/bin/python3', '/usr/local/bin/python3'].find((p) => fs.existsSync(p)) ?? 'python3';
}

/** The worker's one helper: the job runner starts jobs through it, the worker prepares it at start. */
export const jobSpawner = new SpawnHelper();
