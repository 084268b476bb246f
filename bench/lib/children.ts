import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const live = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of live) c.kill('SIGKILL');
});

/** A bench helper process (TypeScript through tsx) that talks to the bench over IPC. */
export interface Child {
  readonly pid: number;
  readonly proc: ChildProcess;
  /** Sends a request and resolves with the child's reply to it. */
  call<T = unknown>(msg: Record<string, unknown>, timeoutMs?: number): Promise<T>;
  /** Messages the child sends on its own (not replies). */
  on(type: string, fn: (msg: any) => void): void;
  /** Asks the child to end, kills it after a grace period. */
  stop(graceMs?: number): Promise<void>;
}

/** Forks `bench/<script>` with `config` as its one argument (JSON); resolves when it says ready. */
export async function forkChild(script: string, config: unknown, readyTimeoutMs = 120_000): Promise<Child> {
  const proc = fork(path.join(BENCH_DIR, script), [JSON.stringify(config)], {
    // BENCH_CHILD_NODE_ARGS: node options for the bench's children (simulators), e.g. `--cpu-prof`.
    execArgv: ['--import', 'tsx', ...(process.env.BENCH_CHILD_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  live.add(proc);
  const exited = new Promise<void>((r) => proc.once('exit', () => (live.delete(proc), r())));
  const pending = new Map<number, { resolve(v: any): void; reject(e: Error): void }>();
  const handlers = new Map<string, (msg: any) => void>();
  let seq = 0;
  proc.on('message', (m: any) => {
    if (m?.type === 'reply') {
      const p = pending.get(m.id);
      pending.delete(m.id);
      if (m.error) p?.reject(new Error(`${script}: ${m.error}`));
      else p?.resolve(m.value);
    } else handlers.get(m?.type)?.(m);
  });
  proc.once('exit', (code, sig) => {
    for (const p of pending.values()) p.reject(new Error(`${script} exited (${code ?? sig})`));
    pending.clear();
  });
  const child: Child = {
    pid: proc.pid!,
    proc,
    call(msg, timeoutMs = 600_000) {
      const id = ++seq;
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => (pending.delete(id), reject(new Error(`${script}: no reply to ${msg.type} in ${timeoutMs} ms`))), timeoutMs);
        pending.set(id, { resolve: (v) => (clearTimeout(t), resolve(v)), reject: (e) => (clearTimeout(t), reject(e)) });
        proc.send({ ...msg, id });
      });
    },
    on(type, fn) {
      handlers.set(type, fn);
    },
    async stop(graceMs = 10_000) {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      try {
        proc.send({ type: 'exit' });
      } catch {
        proc.kill('SIGTERM');
      }
      const t = setTimeout(() => proc.kill('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${script} not ready in ${readyTimeoutMs} ms`)), readyTimeoutMs);
    handlers.set('ready', () => (clearTimeout(t), resolve()));
    proc.once('exit', (code) => (clearTimeout(t), reject(new Error(`${script} exited (${code}) before it was ready`))));
  });
  return child;
}

/** The child side: answers requests with `handle`, exits on {type:'exit'} after `cleanup`. */
export function serveParent(handle: (msg: any) => Promise<unknown>, cleanup: () => Promise<void>): void {
  process.on('message', async (m: any) => {
    if (m?.type === 'exit') {
      await cleanup().catch(() => undefined);
      process.exit(0);
    }
    try {
      const value = await handle(m);
      process.send!({ type: 'reply', id: m.id, value });
    } catch (err) {
      process.send!({ type: 'reply', id: m.id, error: (err as Error).stack ?? String(err) });
    }
  });
  // The bench went away: do not linger.
  process.on('disconnect', () => void cleanup().finally(() => process.exit(0)));
}

export function childConfig<T>(): T {
  return JSON.parse(process.argv[2] ?? '{}') as T;
}

export function ready(): void {
  process.send!({ type: 'ready' });
}
