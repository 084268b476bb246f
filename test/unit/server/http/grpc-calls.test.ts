import assert from 'node:assert/strict';
import http2 from 'node:http2';
import zlib from 'node:zlib';
import type net from 'node:net';
import { Code, ConnectError, createClient, type Interceptor } from '@connectrpc/connect';
import { connectNodeAdapter, createGrpcTransport } from '@connectrpc/connect-node';
import { create } from '@bufbuild/protobuf';
import { FetchJobsResponseSchema, StreamKeepaliveSchema, WorkerService } from '../../../../gen/edge/v1/worker_service_pb.js';
import { WorkerState } from '../../../../gen/edge/v1/worker_pb.js';
import { ObservedStream } from '../../../../server/services/observed-stream.js';
import { grpcShortPath, serveStreamsFirst } from '../../../../server/http/grpc-calls.js';

/** What the two servers' methods saw: the token the interceptor passed on, the deadline, the signal. */
interface Seen {
  /** How each stream ended, as an interceptor sees it ('done' or the error's code). */
  streamEnds: string[];
  token?: string | null;
  timeoutMs?: number;
  aborted?: Promise<unknown>;
}

const SHARED_KEEPALIVE = Object.freeze(
  create(FetchJobsResponseSchema, { event: { case: 'keepalive', value: Object.freeze(create(StreamKeepaliveSchema, { serverTimeUnixMs: 77n })) } }),
);

function implementation(seen: Seen) {
  return {
    async getWorker(req: { name: string }, ctx: { timeoutMs(): number | undefined; signal: AbortSignal; responseHeader: Headers; responseTrailer: Headers }) {
      seen.timeoutMs = ctx.timeoutMs();
      if (req.name === 'busy') {
        const err = new ConnectError('busy; try again: 50% full', Code.Unavailable);
        err.metadata.set('grpc-retry-pushback-ms', '1000');
        throw err;
      }
      if (req.name === 'crash') throw new Error('a bug with a secret in it');
      if (req.name === 'wait') {
        seen.aborted = new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(ctx.signal.reason), { once: true }));
        await seen.aborted;
      }
      ctx.responseHeader.set('x-answered-by', 'test');
      ctx.responseTrailer.set('x-trailer', 'yes');
      return { worker: { name: req.name, state: WorkerState.IDLE, queues: ['a', 'b'] } };
    },
    async *fetchJobs(req: { workerName: string }, ctx: { signal: AbortSignal; responseHeader: Headers; responseTrailer: Headers }) {
      ctx.responseHeader.set('x-stream', 'open');
      const keepalive = (n: number) => ({ event: { case: 'keepalive' as const, value: { serverTimeUnixMs: BigInt(n) } } });
      yield keepalive(1);
      if (req.workerName === 'shared') {
        // One frozen message, as a keepalive tick gives every quiet stream: written three times, on every stream that asks.
        for (let i = 0; i < 3; i++) yield SHARED_KEEPALIVE;
        return;
      }
      if (req.workerName === 'fail') throw new ConnectError('too many streams', Code.ResourceExhausted);
      if (req.workerName === 'hold') {
        seen.aborted = new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(ctx.signal.reason), { once: true }));
        await seen.aborted;
        return;
      }
      // Large enough that the writes wait for the client to read (flow control).
      for (let i = 2; i <= 2000; i++) yield { event: { case: 'keepalive' as const, value: { serverTimeUnixMs: BigInt(i) } } };
      ctx.responseTrailer.set('x-trailer', 'done');
    },
  };
}

/** Stands for the server's interceptors: the token reaches the method, errors stay ConnectErrors. */
function interceptors(seen: Seen): Interceptor[] {
  return [
    (next) => async (req) => {
      try {
        return await next(req);
      } catch (err) {
        throw err instanceof ConnectError ? err : new ConnectError('internal error', Code.Internal);
      }
    },
    (next) => async (req) => {
      const res = await next(req);
      if (!res.stream) return res;
      const hooks = { done: () => seen.streamEnds.push('done'), error: (err: unknown) => (seen.streamEnds.push(String(ConnectError.from(err).code)), err) };
      return { ...res, message: new ObservedStream(res.message, hooks, undefined) };
    },
    (next) => async (req) => {
      seen.token = req.header.get('authorization');
      if (seen.token === 'Bearer bad') throw new ConnectError('invalid or revoked token', Code.Unauthenticated);
      return next(req);
    },
  ];
}

interface Server {
  url: string;
  seen: Seen;
  fallbacks: number;
  close(): Promise<void>;
}

/** A server whose unary gRPC calls take the short path (`short`), or connect-es alone. */
async function serve(short: boolean): Promise<Server> {
  const seen: Seen = { streamEnds: [] };
  const impl = implementation(seen);
  const ics = interceptors(seen);
  const connect = connectNodeAdapter({ routes: (r) => r.service(WorkerService, impl as never), interceptors: ics, readMaxBytes: 8192 });
  const state = { fallbacks: 0 };
  const counted: typeof connect = (req, res) => {
    state.fallbacks++;
    connect(req, res);
  };
  const server = http2.createServer(counted as never);
  if (short) serveStreamsFirst(server, grpcShortPath({ services: [[WorkerService, impl]], interceptors: ics, readMaxBytes: 8192, shutdownSignal: new AbortController().signal, log: () => undefined }));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => sessions.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    seen,
    get fallbacks() {
      return state.fallbacks;
    },
    close: () => {
      // The clients' connections stay open: they are cut here.
      for (const s of sessions) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  } as Server;
}

type Outcome = { code: Code | 'ok'; message?: string; header?: Record<string, string>; trailer?: Record<string, string>; name?: string };

async function call(url: string, name: string, opts: { token?: string; timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Outcome> {
  const client = createClient(WorkerService, createGrpcTransport({ baseUrl: url }));
  const header: Record<string, string> = {};
  const trailer: Record<string, string> = {};
  const pick = (h: Headers, into: Record<string, string>) => h.forEach((v, k) => k.startsWith('x-') || k === 'grpc-retry-pushback-ms' ? (into[k] = v) : undefined);
  try {
    const res = await client.getWorker(
      { name },
      { headers: { authorization: `Bearer ${opts.token ?? 'good'}` }, timeoutMs: opts.timeoutMs, signal: opts.signal, onHeader: (h) => pick(h, header), onTrailer: (h) => pick(h, trailer) },
    );
    return { code: 'ok', name: res.worker?.name, header, trailer };
  } catch (err) {
    const e = ConnectError.from(err);
    e.metadata.forEach((v, k) => (k === 'grpc-retry-pushback-ms' ? (trailer[k] = v) : undefined));
    return { code: e.code, message: e.rawMessage, trailer };
  }
}

type StreamOutcome = Omit<Outcome, 'name'> & { times: number[] };

async function stream(url: string, name: string, opts: { token?: string; signal?: AbortSignal } = {}): Promise<StreamOutcome> {
  const client = createClient(WorkerService, createGrpcTransport({ baseUrl: url }));
  const header: Record<string, string> = {};
  const trailer: Record<string, string> = {};
  const pick = (h: Headers, into: Record<string, string>) => h.forEach((v, k) => (k.startsWith('x-') ? (into[k] = v) : undefined));
  const times: number[] = [];
  try {
    const messages = client.fetchJobs(
      { workerName: name },
      { headers: { authorization: `Bearer ${opts.token ?? 'good'}` }, signal: opts.signal, onHeader: (h) => pick(h, header), onTrailer: (h) => pick(h, trailer) },
    );
    for await (const m of messages) {
      if (m.event.case === 'keepalive') times.push(Number(m.event.value.serverTimeUnixMs));
      // A slow reader: the server must wait for it, not buffer without end.
      if (times.length % 500 === 0) await new Promise((r) => setTimeout(r, 20));
    }
    return { code: 'ok', times, header, trailer };
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage, times, header, trailer };
  }
}

/** Sends raw bytes as one gRPC request body and reads the answer's status. */
async function raw(url: string, body: Buffer, headers: http2.OutgoingHttpHeaders = {}): Promise<{ status?: string; message?: string; encoding?: string; body?: Buffer }> {
  const session = http2.connect(url);
  try {
    return await new Promise((resolve, reject) => {
      const s = session.request({ ':method': 'POST', ':path': '/edge.v1.WorkerService/GetWorker', 'content-type': 'application/grpc', te: 'trailers', ...headers });
      let status: string | undefined;
      let message: string | undefined;
      let encoding: string | undefined;
      const data: Buffer[] = [];
      const take = (h: http2.IncomingHttpHeaders) => {
        if (h['grpc-encoding'] !== undefined) encoding = String(h['grpc-encoding']);
        if (h['grpc-status'] !== undefined) status = String(h['grpc-status']);
        if (h['grpc-message'] !== undefined) message = decodeURIComponent(String(h['grpc-message']));
      };
      s.on('response', take);
      s.on('trailers', take);
      s.on('data', (d: Buffer) => data.push(d));
      s.on('close', () => resolve(encoding || data.length ? { status, message, encoding, body: Buffer.concat(data) } : { status, message }));
      s.on('error', reject);
      s.end(body);
    });
  } finally {
    session.close();
  }
}

function envelope(payload: Buffer, flags = 0, declared = payload.length): Buffer {
  const head = Buffer.alloc(5);
  head[0] = flags;
  head.writeUInt32BE(declared, 1);
  return Buffer.concat([head, payload]);
}

describe('gRPC calls with one request message, served without the streaming pipeline (server/http/grpc-calls.ts)', () => {
  let fast: Server;
  let plain: Server;
  before(async () => {
    fast = await serve(true);
    plain = await serve(false);
  });
  after(async () => {
    await fast.close();
    await plain.close();
  });

  it('answers as connect-es does: message, headers and trailers, errors with their codes and metadata, an unexpected error as Internal', async () => {
    for (const name of ['w-1', 'busy', 'crash']) {
      const before = fast.fallbacks;
      const got = await call(fast.url, name);
      assert.equal(fast.fallbacks, before, `${name}: served by the short path`);
      assert.deepEqual(got, await call(plain.url, name), name);
    }
    assert.deepEqual(await call(fast.url, 'w-1'), { code: 'ok', name: 'w-1', header: { 'x-answered-by': 'test' }, trailer: { 'x-trailer': 'yes' } });
    const busy = await call(fast.url, 'busy');
    assert.equal(busy.code, Code.Unavailable);
    assert.equal(busy.message, 'busy; try again: 50% full');
    assert.equal(busy.trailer?.['grpc-retry-pushback-ms'], '1000');
    assert.deepEqual(await call(fast.url, 'crash'), { code: Code.Internal, message: 'internal error', trailer: {} });
  });

  it('runs the interceptors with the request headers, and refuses in them as connect-es does', async () => {
    await call(fast.url, 'w-1', { token: 'abc' });
    assert.equal(fast.seen.token, 'Bearer abc');
    assert.deepEqual(await call(fast.url, 'w-1', { token: 'bad' }), await call(plain.url, 'w-1', { token: 'bad' }));
    assert.equal((await call(fast.url, 'w-1', { token: 'bad' })).code, Code.Unauthenticated);
  });

  it("gives the method the client's deadline, and aborts its signal when the client goes away", async () => {
    await call(fast.url, 'w-1', { timeoutMs: 5000 });
    assert.ok(fast.seen.timeoutMs! > 4000 && fast.seen.timeoutMs! <= 5000, `timeout seen: ${fast.seen.timeoutMs}`);
    const leave = new AbortController();
    const pending = call(fast.url, 'wait', { signal: leave.signal });
    for (let i = 0; i < 100 && !fast.seen.aborted; i++) await new Promise((r) => setTimeout(r, 10));
    assert.ok(fast.seen.aborted, 'the method started');
    leave.abort();
    assert.equal((await pending).code, Code.Canceled);
    const reason = await fast.seen.aborted;
    assert.ok(reason instanceof ConnectError, `the method's signal was aborted (reason: ${String(reason)})`);
  });

  it('refuses malformed request bodies with a code that blames the client, as the server does for connect-es', async () => {
    const parse = await raw(fast.url, envelope(Buffer.from([0x0a, 0x05, 0x61])));
    assert.equal(parse.status, String(Code.InvalidArgument));
    assert.match(parse.message!, /^parse binary:/);
    const compressed = await raw(fast.url, envelope(Buffer.from([0x0a, 0x01, 0x61]), 1));
    assert.equal(compressed.status, String(Code.InvalidArgument));
    const short = await raw(fast.url, envelope(Buffer.from([0x0a, 0x01, 0x61]), 0, 10));
    assert.deepEqual(short, { status: String(Code.InvalidArgument), message: 'protocol error: incomplete envelope' });
    assert.equal((await raw(fast.url, Buffer.alloc(0))).status, String(Code.Unimplemented));
    const two = Buffer.concat([envelope(Buffer.from([0x0a, 0x01, 0x61])), envelope(Buffer.from([0x0a, 0x01, 0x62]))]);
    assert.deepEqual(await raw(fast.url, two), await raw(plain.url, two));
  });

  it('refuses a message over the size limit from its envelope, without reading the rest', async () => {
    const big = envelope(Buffer.alloc(4096, 0x61), 0, 1 << 20);
    const got = await raw(fast.url, big);
    assert.equal(got.status, String(Code.ResourceExhausted));
    assert.equal((await raw(plain.url, big)).status, String(Code.ResourceExhausted));
  });

  it('streams a server-streaming method as connect-es does: every message in order, headers, trailers, an error after messages', async () => {
    for (const name of ['all', 'fail']) {
      const before = fast.fallbacks;
      const got = await stream(fast.url, name);
      assert.equal(fast.fallbacks, before, `${name}: served by the short path`);
      assert.deepEqual(got, await stream(plain.url, name), name);
    }
    const all = await stream(fast.url, 'all');
    assert.deepEqual(all.times, Array.from({ length: 2000 }, (_, i) => i + 1));
    assert.deepEqual(all, { code: 'ok', times: all.times, header: { 'x-stream': 'open' }, trailer: { 'x-trailer': 'done' } });
    assert.deepEqual(await stream(fast.url, 'fail'), { code: Code.ResourceExhausted, message: 'too many streams', times: [1], header: { 'x-stream': 'open' }, trailer: {} });
    assert.equal((await stream(fast.url, 'all', { token: 'bad' })).code, Code.Unauthenticated);
  });

  it('writes a frozen message shared by many streams (encoded once) whole on each of them', async () => {
    const streams = await Promise.all([fast.url, fast.url, fast.url, plain.url].map((url) => stream(url, 'shared')));
    for (const got of streams) assert.deepEqual(got, { code: 'ok', times: [1, 77, 77, 77], header: { 'x-stream': 'open' }, trailer: {} });
  });

  it("aborts a stream's signal when its client goes away, and the interceptors see the stream end, as under connect-es", async () => {
    for (const server of [fast, plain]) {
      server.seen.aborted = undefined;
      server.seen.streamEnds = [];
      const leave = new AbortController();
      const pending = stream(server.url, 'hold', { signal: leave.signal });
      for (let i = 0; i < 100 && !server.seen.aborted; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(server.seen.aborted, 'the method started');
      leave.abort();
      assert.equal((await pending).code, Code.Canceled);
      const reason: unknown = await (server.seen as Seen).aborted;
      assert.ok(reason instanceof Error, `aborted with ${String(reason)}`);
      for (let i = 0; i < 100 && !server.seen.streamEnds.length; i++) await new Promise((r) => setTimeout(r, 10));
    }
    assert.deepEqual(fast.seen.streamEnds, plain.seen.streamEnds);
    assert.deepEqual(fast.seen.streamEnds, ['done']);
  });

  it('gzips large answers for a client that accepts gzip, as connect-es does', async () => {
    const name = 'x'.repeat(5000);
    const request = envelope(Buffer.from([0x0a, 0x88, 0x27, ...Buffer.from(name)]));
    for (const server of [fast, plain]) {
      const got = await raw(server.url, request, { 'grpc-accept-encoding': 'gzip' });
      assert.equal(got.status, '0');
      assert.equal(got.encoding, 'gzip');
      assert.equal(got.body![0], 1, 'the message is flagged compressed');
      assert.ok(zlib.gunzipSync(got.body!.subarray(5)).includes(Buffer.from(name)));
      assert.ok(got.body!.length < 200, `compressed to ${got.body!.length} bytes`);
      const plainAnswer = await raw(server.url, request);
      assert.equal(plainAnswer.body![0], 0, 'not compressed for a client that does not accept gzip');
    }
  });

  it('leaves what it does not serve to connect-es: JSON, compressed requests, client streams', async () => {
    const before = fast.fallbacks;
    await raw(fast.url, envelope(Buffer.from('{}')), { 'content-type': 'application/grpc+json' });
    await raw(fast.url, envelope(Buffer.from([0x0a, 0x01, 0x61])), { 'grpc-encoding': 'gzip' });
    await raw(fast.url, envelope(Buffer.from([0x0a, 0x01, 0x61])), { ':path': '/edge.v1.LogService/UploadLogs' });
    assert.equal(fast.fallbacks, before + 3);
  });
});
