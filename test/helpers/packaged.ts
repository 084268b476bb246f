import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from './databases.js';
import { ROOT } from './processes.js';

const run = promisify(execFile);

/**
 * The single worker executable, built by `scripts/build-worker.mjs` into `dir` (the script keeps
 * binaries in node_modules/.cache/edge-worker by a hash of their inputs: only the first run builds).
 */
export async function buildWorkerBinary(dir: string): Promise<string> {
  const out = path.join(dir, 'edge-worker');
  await run(process.execPath, [path.join(ROOT, 'scripts/build-worker.mjs'), '--out', out, '--quiet'], { cwd: ROOT, maxBuffer: 16 << 20 });
  return out;
}

/**
 * A PATH that holds only the few programs the tests' jobs call (links into /bin and /usr/bin), and so
 * no `node`: what a site machine without Node.js offers.
 */
export function pathWithoutNode(programs = ['sh', 'sleep', 'cat']): string {
  const dir = tempDir('path');
  for (const p of programs) {
    const target = ['/bin', '/usr/bin'].map((d) => path.join(d, p)).find((f) => fs.existsSync(f));
    if (!target) throw new Error(`${p} not found in /bin or /usr/bin`);
    fs.symlinkSync(target, path.join(dir, p));
  }
  if (fs.existsSync(path.join(dir, 'node'))) throw new Error('the PATH meant to lack node has one');
  return dir;
}

export interface Program {
  readonly pid: number;
  output(): string;
  exited: Promise<number | string>;
  stop(signal?: NodeJS.Signals, killAfterMs?: number): Promise<number | string>;
}

const running = new Set<ReturnType<typeof spawn>>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Starts any program with exactly the environment given (nothing inherited). */
export function spawnProgram(file: string, args: string[], opts: { cwd: string; env: Record<string, string> }): Program {
  const child = spawn(file, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => {
      running.delete(child);
      resolve(code ?? signal ?? -1);
    }),
  );
  return {
    pid: child.pid!,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM', killAfterMs = 20_000) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      const r = await exited;
      clearTimeout(timer);
      return r;
    },
  };
}

/** Runs a program to its end with exactly the environment given. */
export async function runProgram(file: string, args: string[], opts: { cwd: string; env: Record<string, string> }): Promise<{ code: number | string; output: string }> {
  const p = spawnProgram(file, args, opts);
  const code = await p.exited;
  return { code, output: p.output() };
}

/**
 * The package as `npm pack` makes it, in `dir`. Scripts are skipped: `npm test` has built dist/
 * already, and prepack's rebuild would rewrite dist/ under tests running in parallel.
 */
export async function packTarball(dir: string): Promise<string> {
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], { cwd: ROOT, maxBuffer: 16 << 20 });
  const [info] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  return path.join(dir, info!.filename);
}
