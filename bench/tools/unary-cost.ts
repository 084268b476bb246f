/**
 * `tsx bench/tools/unary-cost.ts [calls]` — server CPU per unary gRPC call, from /proc, for:
 * the edge server (Health/Check and an authenticated GetWorker), a bare connect-node server, and
 * Node's http2 stream API (and its compatibility API) answering by hand. 32 calls in flight over one
 * h2c connection.
 */
import { spawn } from 'node:child_process';
import net from 'node:net';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { Health } from '../../gen/grpc/health/v1/health_pb.js';
import { WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import { TEST_ADMIN_TOKEN } from '../../test/helpers/credentials.js';
import { startServerProcess } from '../../test/helpers/processes.js';
import { createEdgeDatabase } from '../lib/stores.js';
import { cpuSeconds } from '../lib/procstat.js';

const N = Number(process.argv[2] ?? 5000);

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const p = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return p;
}

async function measure(label: string, pid: number, url: string, call: (c: ReturnType<typeof clients>) => Promise<unknown>) {
  if (process.env.UC_ONLY && !label.includes(process.env.UC_ONLY)) return;
  const c = clients(url);
  for (let i = 0; i < 500; i++) await call(c).catch(() => undefined);
  const c0 = cpuSeconds(pid);
  const t0 = performance.now();
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next++ < N) await call(c).catch(() => undefined);
  }));
  const ms = performance.now() - t0;
  const cpu = cpuSeconds(pid) - c0;
  console.log(`${label.padEnd(40)} ${((cpu * 1000) / N).toFixed(3)} ms server CPU/call, ${Math.round((N / ms) * 1000)} calls/s`);
}

function clients(url: string) {
  const transport = createGrpcTransport({ baseUrl: url, interceptors: [(next) => (req) => { req.header.set('authorization', `Bearer ${TEST_ADMIN_TOKEN}`); return next(req); }] });
  return { health: createClient(Health, transport), workers: createClient(WorkerService, transport) };
}

for (const mode of process.env.UC_EDGE_ONLY ? [] : ['raw', 'compat', 'connect']) {
  const port = await freePort();
  const child = spawn(process.execPath, [...(process.env.UC_PROF ? ['--cpu-prof', '--cpu-prof-dir', process.env.UC_PROF] : []), '--import', 'tsx', new URL('./unary-server.ts', import.meta.url).pathname, mode, String(port)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise<void>((r) => child.stdout!.once('data', () => r()));
  await measure(`${mode}: Health/Check`, child.pid!, `http://127.0.0.1:${port}`, (c) => c.health.check({}));
  child.kill('SIGINT'); await new Promise((r) => child.once('exit', r));
}
const db = await createEdgeDatabase('sqlite');
if (process.env.UC_PROF) process.env.EDGE_PROFILE_NODE_ARGS = `--cpu-prof --cpu-prof-dir=${process.env.UC_PROF}`;
const server = await startServerProcess(db.url);
try {
  await measure('edge server: Health/Check (connect-es)', server.pid, server.url, (c) => c.health.check({}));
  await measure('edge server: GetServerVersion', server.pid, server.url, (c) => c.workers.getServerVersion({}));
  await measure('edge server: GetWorker (not found)', server.pid, server.url, (c) => c.workers.getWorker({ name: 'nobody' }));
} finally {
  await server.stop('SIGTERM');
  await db.drop();
}
