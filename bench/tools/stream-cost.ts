/**
 * `node --expose-gc --import tsx bench/tools/stream-cost.ts connect|raw [N=2000]`
 *
 * What one open server-streaming call costs the server in memory, apart from everything else the edge
 * server does: N FetchJobs streams (a client process, 100 streams per HTTP/2 connection) held open
 * by a bare connect-es router with no interceptors (`connect`), or answered on the same HTTP/2
 * compat request and response without connect-es (`raw`: headers and one gRPC message, stream left
 * open). Prints the server's growth per stream after a full GC.
 */
import http2 from 'node:http2';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { create, toBinary } from '@bufbuild/protobuf';
import { createClient } from '@connectrpc/connect';
import { connectNodeAdapter, createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { WorkerService, FetchJobsResponseSchema } from '../../gen/edge/v1/worker_service_pb.js';
import { Channel } from '../../server/dispatch/channel.js';

const [mode, nArg, portArg] = process.argv.slice(2);
const n = Number(nArg ?? 2000);
const ka = () => create(FetchJobsResponseSchema, { event: { case: 'keepalive', value: { serverTimeUnixMs: 1n } } });

if (mode === 'client') {
  const url = `http://127.0.0.1:${portArg}`;
  const clients = Array.from({ length: Math.ceil(n / 100) }, () => createClient(WorkerService, createGrpcTransport({ baseUrl: url, sessionManager: new Http2SessionManager(url) })));
  let opened = 0;
  for (let i = 0; i < n; i++) {
    void (async () => {
      let first = true;
      try {
        for await (const _ of clients[Math.floor(i / 100)]!.fetchJobs({ workerName: `w${i}` }, { headers: { authorization: 'Bearer xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx' } })) {
          if (first) (first = false), ++opened === n && process.send!('open');
        }
      } catch (e) {
        console.error('client', (e as Error).message);
      }
    })();
  }
} else {
  const channels: Channel<unknown>[] = [];
  const connectHandler = connectNodeAdapter({
    routes(router) {
      router.service(WorkerService, {
        fetchJobs(_req, ctx) {
          const ch = new Channel<ReturnType<typeof ka>>();
          ch.push(ka());
          channels.push(ch);
          ctx.signal.addEventListener('abort', () => ch.close(), { once: true });
          return ch;
        },
      });
    },
  });
  const frame = (m: ReturnType<typeof ka>) => {
    const b = toBinary(FetchJobsResponseSchema, m);
    const out = Buffer.alloc(5 + b.length);
    out.writeUInt32BE(b.length, 1);
    out.set(b, 5);
    return out;
  };
  const server = http2.createServer({ settings: { maxConcurrentStreams: 256 } }, (req, res) => {
    if (mode === 'connect') return connectHandler(req, res);
    // raw: read the request, answer headers and one message, keep the stream open
    req.on('data', () => undefined);
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/grpc+proto' });
      res.write(frame(ka()));
    });
  });
  server.listen(0, '127.0.0.1', async () => {
    const port = (server.address() as { port: number }).port;
    const mem = () => {
      (globalThis as { gc?: () => void }).gc?.();
      return process.memoryUsage();
    };
    await new Promise((r) => setTimeout(r, 500));
    const m0 = mem();
    const child = fork(fileURLToPath(import.meta.url), ['client', String(n), String(port)], { execArgv: ['--import', 'tsx'] });
    await new Promise((r) => child.once('message', r));
    await new Promise((r) => setTimeout(r, 2000));
    const m1 = mem();
    const kib = (a: number, b: number) => ((b - a) / n / 1024).toFixed(1);
    console.log(`${mode} ${n} streams: heap used ${kib(m0.heapUsed, m1.heapUsed)} KiB, heap total ${kib(m0.heapTotal, m1.heapTotal)} KiB, external ${kib(m0.external, m1.external)} KiB, RSS ${kib(m0.rss, m1.rss)} KiB per stream`);
    child.kill('SIGKILL');
    process.exit(0);
  });
}
