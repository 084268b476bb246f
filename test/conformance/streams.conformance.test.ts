import assert from 'node:assert/strict';
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import { LogService } from '../../gen/edge/v1/log_service_pb.js';
import { WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import { ServerReflectionRequestSchema, ServerReflectionResponseSchema } from '../../gen/grpc/reflection/v1/reflection_pb.js';
import type { RunningServer } from '../../server/app.js';
import { VERSION } from '../../shared/version.js';
import { TEST_ADMIN_TOKEN, TEST_REGISTRATION_SECRET } from '../helpers/credentials.js';
import { createSqliteDatabase, type TestDatabase } from '../helpers/databases.js';
import { RawGrpc, conformanceServer, connectJsonStream, type OpenStream } from './clients.js';

const J = JobService.method;
const W = WorkerService.method;
const L = LogService.method;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Stream lifetime is about connections and handlers, not the store: SQLite is enough here. */
describe('conformance: long streams live as long as their clients want (raw gRPC, Connect JSON, HTTP/2)', function () {
  let db: TestDatabase;

  beforeEach(async () => {
    db = await createSqliteDatabase();
  });

  afterEach(async () => {
    await db.drop();
  });

  async function workerWithJob(rpc: RawGrpc, name: string) {
    const reg = await rpc.unary(WorkerService, W.registerWorker, { name, queues: [name], concurrency: 2, version: VERSION }, TEST_REGISTRATION_SECRET);
    return reg.workerToken;
  }

  it('keeps quiet streams open far past the idle limit, which closes only connections with no stream', async () => {
    // An idle limit of 300 ms stands in for the 5 minutes that used to cut streams: 10 limits pass.
    // This worker sends no heartbeat: with the 3 s worker timeout of conformanceServer it would be reaped
    // during the quiet 3 s (or not, by a few ms) and never get the job below.
    const { server } = await conformanceServer(db, { connectionLimits: { idleMs: 300, pingMs: 100 }, streamKeepaliveSeconds: 3600, workerTimeoutSeconds: 3600 });
    const rpc = new RawGrpc(server.port);
    try {
      const token = await workerWithJob(rpc, 'quiet');
      const fetch = rpc.serverStream(WorkerService, W.fetchJobs, {}, token);
      const watch = rpc.serverStream(JobService, J.watchJobs, {}, TEST_ADMIN_TOKEN);
      const queued = (await rpc.unary(JobService, J.submitJob, { spec: { argv: ['true'], queue: 'nobody' } }, TEST_ADMIN_TOKEN)).job!;
      const tail = rpc.serverStream(LogService, L.tailLogs, { jobId: queued.id }, TEST_ADMIN_TOKEN);
      for (const [what, s] of [['FetchJobs', fetch], ['WatchJobs', watch], ['TailLogs', tail]] as const) {
        await (s as OpenStream<unknown>).until(`the first message of ${what}`, (x) => x.messages.length > 0);
      }
      const before = { fetch: fetch.messages.length, watch: watch.messages.length, tail: tail.messages.length };
      await sleep(3000);
      for (const [what, s] of [['FetchJobs', fetch], ['WatchJobs', watch], ['TailLogs', tail]] as const) {
        assert.equal((s as OpenStream<unknown>).ended, undefined, `${what} was cut: ${JSON.stringify((s as OpenStream<unknown>).ended)}`);
      }
      // Nothing was said meanwhile (keepalive messages are an hour apart here): the streams were truly quiet.
      assert.deepEqual({ fetch: fetch.messages.length, watch: watch.messages.length, tail: tail.messages.length }, before);
      // And they still work.
      const job = (await rpc.unary(JobService, J.submitJob, { spec: { argv: ['true'], queue: 'quiet' } }, TEST_ADMIN_TOKEN)).job!;
      await fetch.until('the assignment', (s) => s.messages.some((m) => m.event.case === 'assignment' && m.event.value.job?.id === job.id));
      await watch.until('the change', (s) => s.messages.some((m) => m.events.some((e) => e.jobId === job.id)));
      for (const s of [fetch, watch, tail]) (s as OpenStream<unknown>).cancel();

      // A connection whose streams have all ended is closed after the idle limit; the server pings it meanwhile.
      const session = http2.connect(server.url);
      let pings = 0;
      session.on('ping', () => (pings += 1));
      const closed = new Promise<void>((resolve) => session.once('close', () => resolve()));
      // Timed from before the request: the server's idle time starts after it, and this side may hear
      // of the request's end late on a loaded machine (it once measured 200 ms of a 300 ms limit).
      const started = Date.now();
      const req = session.request({ ':path': '/no-such-page' });
      req.resume();
      await new Promise<void>((resolve) => req.once('close', () => resolve()));
      await Promise.race([closed, sleep(5000).then(() => assert.fail('an idle connection was never closed'))]);
      assert.ok(Date.now() - started >= 250, 'closed before its idle limit');
      assert.ok(pings >= 1, 'the server never pinged');
    } finally {
      rpc.close();
      await server.close();
    }
  });

  it('sends a first message and periodic keepalives on FetchJobs, WatchJobs and TailLogs, over gRPC and Connect', async () => {
    const { server } = await conformanceServer(db, { streamKeepaliveSeconds: 0.2 });
    const rpc = new RawGrpc(server.port);
    try {
      const token = await workerWithJob(rpc, 'chatty');
      const queued = (await rpc.unary(JobService, J.submitJob, { spec: { argv: ['true'], queue: 'nobody' } }, TEST_ADMIN_TOKEN)).job!;
      const fetch = rpc.serverStream(WorkerService, W.fetchJobs, {}, token);
      const watch = rpc.serverStream(JobService, J.watchJobs, {}, TEST_ADMIN_TOKEN);
      const tail = rpc.serverStream(LogService, L.tailLogs, { jobId: queued.id }, TEST_ADMIN_TOKEN);
      await sleep(1100);
      assert.equal(fetch.messages[0]!.event.case, 'keepalive');
      assert.ok(fetch.messages.filter((m) => m.event.case === 'keepalive').length >= 3, `FetchJobs: ${fetch.messages.length} messages`);
      assert.ok(watch.messages.length >= 3, `WatchJobs: ${watch.messages.length} messages`);
      assert.ok(watch.messages.every((m) => m.events.length === 0 && /^\d+$/.test(m.cursor)));
      assert.ok(tail.messages.length >= 3, `TailLogs: ${tail.messages.length} messages`);
      assert.ok(tail.messages.every((m) => m.data.length === 0 && m.offset === 0n));
      for (const s of [fetch, watch, tail]) (s as OpenStream<unknown>).cancel();

      const overConnect = await connectJsonStream(server.url, 'edge.v1.JobService/WatchJobs', {}, TEST_ADMIN_TOKEN, 1100);
      // A first message and keepalives 200 ms apart: at least a few in a second, even on a busy machine.
      assert.ok(overConnect.messages.length >= 3, `Connect WatchJobs: ${overConnect.messages.length} messages`);
      const tailConnect = await connectJsonStream(server.url, 'edge.v1.LogService/TailLogs', { jobId: queued.id }, TEST_ADMIN_TOKEN, 1100);
      assert.ok(tailConnect.messages.length >= 2, `Connect TailLogs: ${tailConnect.messages.length} messages`);
    } finally {
      rpc.close();
      await server.close();
    }
  });

  it('logs no error when a client leaves with streams open', async () => {
    const { server, logs } = await conformanceServer(db, { streamKeepaliveSeconds: 0.1 });
    try {
      const rpc = new RawGrpc(server.port);
      const token = await workerWithJob(rpc, 'leaver');
      const queued = (await rpc.unary(JobService, J.submitJob, { spec: { argv: ['true'], queue: 'nobody' } }, TEST_ADMIN_TOKEN)).job!;
      const streams = [
        rpc.serverStream(WorkerService, W.fetchJobs, {}, token),
        rpc.serverStream(JobService, J.watchJobs, {}, TEST_ADMIN_TOKEN),
        rpc.serverStream(LogService, L.tailLogs, { jobId: queued.id }, TEST_ADMIN_TOKEN),
      ] as OpenStream<unknown>[];
      for (const s of streams) await s.until('the first message', (x) => x.messages.length > 0);
      const held = (await rpc.unary(JobService, J.submitJob, { spec: { argv: ['true'], queue: 'leaver' } }, TEST_ADMIN_TOKEN)).job!;
      await streams[0]!.until('the assignment', (x) => x.messages.length > 1);
      // One client cancels its calls, others just go away with their connections: one in the middle
      // of a watch, one in the middle of an upload (its request stream never ends).
      streams[0]!.cancel();
      const frame = (body: Uint8Array) => {
        const f = Buffer.alloc(5 + body.length);
        f.writeUInt32BE(body.length, 1);
        Buffer.from(body).copy(f, 5);
        return f;
      };
      const leave = async (path: string, token: string, body: Uint8Array, endRequest: boolean) => {
        const raw = http2.connect(server.url);
        const req = raw.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', authorization: `Bearer ${token}` });
        req.on('error', () => undefined);
        if (endRequest) req.end(frame(body));
        else req.write(frame(body));
        await sleep(300);
        raw.destroy();
      };
      await leave('/edge.v1.JobService/WatchJobs', TEST_ADMIN_TOKEN, toBinary(J.watchJobs.input, create(J.watchJobs.input, {})), true);
      const chunk = create(L.uploadLogs.input, { jobId: held.id, attempt: 1, offset: 0n, data: Buffer.from('x') });
      await leave('/edge.v1.LogService/UploadLogs', token, toBinary(L.uploadLogs.input, chunk), false);
      rpc.close();
      // Keepalives keep trying to write to the gone streams meanwhile.
      await sleep(800);
      assert.deepEqual(logs.filter((l) => /internal error|destroyed/i.test(l)), []);
    } finally {
      await server.close();
    }
  });

  it('serves the proto comments through reflection, so a client with no .proto reads the docs', async () => {
    const { server } = await conformanceServer(db);
    const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    try {
      const call = client.makeBidiStreamRequest(
        '/grpc.reflection.v1.ServerReflection/ServerReflectionInfo',
        (m: Uint8Array) => Buffer.from(m),
        (b: Buffer) => fromBinary(ServerReflectionResponseSchema, b),
        new grpc.Metadata(),
      );
      const answer = new Promise<ReturnType<typeof fromBinary<typeof ServerReflectionResponseSchema>>>((resolve, reject) => {
        call.once('data', resolve);
        call.once('error', reject);
      });
      call.write(toBinary(ServerReflectionRequestSchema, create(ServerReflectionRequestSchema, { messageRequest: { case: 'fileContainingSymbol', value: 'edge.v1.WorkerService' } })));
      const res = await answer;
      call.end();
      assert.equal(res.messageResponse.case, 'fileDescriptorResponse');
      const files = (res.messageResponse.value as { fileDescriptorProto: Uint8Array[] }).fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b));
      const file = files.find((f) => f.name === 'edge/v1/worker_service.proto')!;
      const comments = (file.sourceCodeInfo?.location ?? []).map((l) => l.leadingComments).join('\n');
      assert.match(comments, /authorization: Bearer <secret>/);
      assert.match(comments, /StreamKeepalive says a stream is live/);
      assert.match(comments, /may be left empty when the call carries the worker's own/);
    } finally {
      client.close();
      await server.close();
    }
  });
});
