/**
 * `tsx bench/tools/fleet-memory.ts [workers=10000] [--snapshot DIR] [--per-connection 100] [--hold S] [--node-args='--flag …']`
 *
 * Server memory per connected worker: one server on MariaDB, `workers` simulated workers that
 * register and hold their FetchJobs stream (no heartbeats, no jobs). Prints the server's RSS, JS heap
 * and external memory idle and with the fleet connected (process.memoryUsage() through
 * bench/tools/mem-hook.mjs), and the growth per worker. With --snapshot, the server writes a heap
 * snapshot into DIR once the fleet is connected (--heapsnapshot-signal=SIGUSR2); read it with
 * bench/tools/heap-summary.ts. --node-args go to the server's node (V8 flags, say).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { forkChild, type Child } from '../lib/children.js';
import { startEdge } from '../lib/edge.js';
import { rssBytes } from '../lib/procstat.js';
import { sleep } from '../lib/stats.js';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { snapshot: { type: 'string' }, 'per-connection': { type: 'string' }, hold: { type: 'string' }, 'node-args': { type: 'string' } },
});
const n = Number(positionals[0] ?? 10_000);
const perConnection = Number(values['per-connection'] ?? 100);
const PER_PROCESS = 2500;
const memFile = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'edge-mem-')), 'mem.json');
const hook = path.join(path.dirname(fileURLToPath(import.meta.url)), 'mem-hook.mjs');
const snapDir = values.snapshot ? path.resolve(values.snapshot) : undefined;
process.env.EDGE_MEM_REPORT = memFile;
if (snapDir) fs.mkdirSync(snapDir, { recursive: true });
process.env.EDGE_PROFILE_NODE_ARGS = ['--expose-gc', `--import=${hook}`, ...(values['node-args']?.split(' ').filter(Boolean) ?? []), ...(snapDir ? ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${snapDir}`] : [])].join(' ');
const edge = await startEdge('mariadb', { heartbeatSeconds: 10 });
delete process.env.EDGE_PROFILE_NODE_ARGS;
delete process.env.EDGE_MEM_REPORT;

const MiB = (b: number) => Math.round((b / 1048576) * 10) / 10;
interface Mem { rss: number; heapUsed: number; heapTotal: number; external: number; arrayBuffers: number }
/** The server's memory after a full GC (RSS from /proc). */
async function memory(): Promise<Mem> {
  fs.writeFileSync(`${memFile}.gc`, '');
  for (let i = 0; i < 120 && fs.existsSync(`${memFile}.gc`); i++) await sleep(250);
  await sleep(1500); // a report written after the GC
  const m = JSON.parse(fs.readFileSync(memFile, 'utf8')) as Mem;
  return { ...m, rss: rssBytes(pid) };
}
const line = (what: string, m: Mem) =>
  console.log(`${what} (after a full GC): RSS ${MiB(m.rss)} MiB, heap used ${MiB(m.heapUsed)} / total ${MiB(m.heapTotal)} MiB, external ${MiB(m.external)} MiB (array buffers ${MiB(m.arrayBuffers)}), RSS − heap total ${MiB(m.rss - m.heapTotal)} MiB`);

const pid = edge.servers[0]!.pid;
try {
  await sleep(2000);
  const idle = await memory();
  line('idle', idle);
  const t0 = Date.now();
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, rssBytes(pid) || 0)), 250);
  const procs = Math.ceil(n / PER_PROCESS);
  // One simulator after the other: on a busy machine, 10,000 registrations at once starve the
  // simulators' own HTTP/2 pings (an unanswered PING ends a simulator).
  const sims: Child[] = [];
  for (let i = 0; i < procs; i++) {
    // Forked here rather than by edge.startSims, to wait longer for them on a busy machine.
    const config = { apiUrls: [edge.servers[0]!.url], count: Math.min(PER_PROCESS, n - i * PER_PROCESS), namePrefix: `mem${i}`, queues: ['default'], concurrency: 1, perConnection, heartbeats: false };
    const sim = await forkChild('sim/sim-workers.ts', config, 900_000);
    sim.proc.on('error', () => undefined);
    edge.sims.push(sim);
    sims.push(sim);
  }
  console.log(`${n} workers connected in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  // Every stream answered by the server (its response head written), not only asked for.
  const live = () => (JSON.parse(fs.readFileSync(memFile, 'utf8')) as { liveResponses: number }).liveResponses;
  for (let i = 0; i < 600 && live() < n; i++) await sleep(1000);
  console.log(`streams answered by the server: ${live()} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  await sleep(Number(values.hold ?? 20) * 1000);
  if (sims.some((s) => s.proc.exitCode !== null || s.proc.signalCode !== null)) throw new Error('a simulator has exited');
  const counts = await Promise.all(sims.map((s) => s.call<{ streamsOpen: number }>({ type: 'count' })));
  console.log(`streams open (simulators' count): ${counts.reduce((a, c) => a + c.streamsOpen, 0)}`);
  const held = await memory();
  clearInterval(sampler);
  line(`${n} workers`, held);
  console.log(`peak RSS while connecting and holding: ${MiB(peak)} MiB`);
  const per = (k: keyof Mem) => ((held[k] - idle[k]) / n / 1024).toFixed(1);
  console.log(`per worker: RSS ${per('rss')} KiB, heap used ${per('heapUsed')} KiB, heap total ${per('heapTotal')} KiB, external ${per('external')} KiB, RSS − heap total ${(((held.rss - held.heapTotal) - (idle.rss - idle.heapTotal)) / n / 1024).toFixed(1)} KiB`);
  if (snapDir) {
    const before = new Set(fs.existsSync(snapDir) ? fs.readdirSync(snapDir) : []);
    process.kill(pid, 'SIGUSR2');
    let file: string | undefined;
    for (let i = 0; i < 600 && !file; i++) {
      await sleep(1000);
      const f = fs.readdirSync(snapDir).find((x) => x.endsWith('.heapsnapshot') && !before.has(x));
      // Written once its size stops changing.
      if (f) {
        const s1 = fs.statSync(path.join(snapDir, f)).size;
        await sleep(2000);
        if (fs.statSync(path.join(snapDir, f)).size === s1 && s1 > 0) file = f;
      }
    }
    console.log(`heap snapshot: ${file ? path.join(snapDir, file) : 'none written'}`);
  }
} finally {
  await edge.close();
  fs.rmSync(path.dirname(memFile), { recursive: true, force: true });
}
