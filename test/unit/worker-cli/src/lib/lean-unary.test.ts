import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { create, toBinary } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient } from '@connectrpc/connect';
import { createGrpcTransport } from '@connectrpc/connect-node';
import { GetServerVersionResponseSchema, WorkerService } from '../../../../../gen/edge/v1/worker_service_pb.js';
import { connectApi, type Api } from '../../../../../worker-cli/src/lib/api.js';

const OK = { ':status': 200, 'content-type': 'application/grpc+proto' };

function frame(bytes: Uint8Array, flags = 0): Buffer {
  const out = Buffer.alloc(5 + bytes.length);
  out[0] = flags;
  out.writeUInt32BE(bytes.length, 1);
  out.set(bytes, 5);
  return out;
}

const version = frame(toBinary(GetServerVersionResponseSchema, create(GetServerVersionResponseSchema, { version: '9.9.9' })));

/** How the scripted server answers, by the request's x-answer header. */
const answers: Record<string, (s: http2.ServerHttp2Stream) => void> = {
  ok: (s) => {
    s.respond({ ...OK, 'x-head': 'h' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0', 'x-tail': 't' }));
    s.end(version);
  },
  'error in trailers': (s) => {
    s.respond(OK, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': String(Code.NotFound), 'grpc-message': encodeURIComponent('job 7 is not here: 100% sure') }));
    s.end();
  },
  'trailers only': (s) => s.respond({ ...OK, 'grpc-status': String(Code.PermissionDenied), 'grpc-message': 'not yours' }, { endStream: true }),
  'HTTP 503': (s) => s.respond({ ':status': 503, 'content-type': 'text/plain' }, { endStream: true }),
  'two messages': (s) => {
    s.respond(OK, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(Buffer.concat([version, version]));
  },
  'a compressed message': (s) => {
    s.respond({ ...OK, 'grpc-encoding': 'identity' }, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end(frame(new Uint8Array([1, 2, 3]), 1));
  },
  'no message': (s) => {
    s.respond(OK, { waitForTrailers: true });
    s.on('wantTrailers', () => s.sendTrailers({ 'grpc-status': '0' }));
    s.end();
  },
  'a refused stream': (s) => s.close(http2.constants.NGHTTP2_REFUSED_STREAM),
  'no answer': () => undefined,
};

async function scriptedServer() {
  const seen: { headers: http2.IncomingHttpHeaders; reset?: number }[] = [];
  const sockets: net.Socket[] = [];
  const server = http2.createServer();
  server.on('connection', (s: net.Socket) => sockets.push(s));
  server.on('stream', (stream, headers) => {
    const entry: (typeof seen)[number] = { headers };
    seen.push(entry);
    stream.on('error', () => undefined);
    stream.on('close', () => (entry.reset = stream.rstCode));
    stream.resume();
    stream.on('end', () => answers[String(headers['x-answer'])]!(stream));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

async function failure(call: Promise<unknown>): Promise<ConnectError> {
  try {
    await call;
  } catch (err) {
    assert.ok(err instanceof ConnectError, `a ConnectError, not ${String(err)}`);
    return err;
  }
  assert.fail('the call succeeded');
}

describe('unary calls on the HTTP/2 stream (lean-unary.ts), against connect-es on the same answers', () => {
  let server: Awaited<ReturnType<typeof scriptedServer>>;
  let api: Api;
  let connect: ReturnType<typeof createClient<typeof WorkerService>>;

  before(async () => {
    server = await scriptedServer();
    api = connectApi(server.url, 'a-token');
    connect = createClient(WorkerService, createGrpcTransport({ baseUrl: server.url }));
  });

  after(async () => {
    api.close();
    await server.close();
  });

  it('sends what a gRPC client sends, and reads the answer, its headers and its trailers', async () => {
    let head: Headers | undefined;
    let tail: Headers | undefined;
    const res = await api.workers.getServerVersion({}, { headers: { 'x-answer': 'ok' }, timeoutMs: 5000, onHeader: (h) => (head = h), onTrailer: (t) => (tail = t) });
    assert.equal(res.version, '9.9.9');
    assert.equal(head?.get('x-head'), 'h');
    assert.equal(tail?.get('x-tail'), 't');
    const sent = server.seen[server.seen.length - 1]!.headers;
    assert.equal(sent[':path'], '/edge.v1.WorkerService/GetServerVersion');
    assert.equal(sent[':method'], 'POST');
    assert.equal(sent['content-type'], 'application/grpc+proto');
    assert.equal(sent.te, 'trailers');
    assert.equal(sent.authorization, 'Bearer a-token');
    assert.equal(sent['grpc-timeout'], '5000m');
  });

  for (const answer of ['error in trailers', 'trailers only', 'HTTP 503', 'two messages', 'a compressed message', 'no message', 'a refused stream']) {
    it(`${answer}: the same code and message as connect-es`, async () => {
      const headers = { 'x-answer': answer };
      const lean = await failure(api.workers.getServerVersion({}, { headers }));
      const theirs = await failure(connect.getServerVersion({}, { headers }));
      assert.equal(Code[lean.code], Code[theirs.code], `lean: ${lean.message}; connect-es: ${theirs.message}`);
      if (answer !== 'a compressed message' && answer !== 'a refused stream') assert.equal(lean.rawMessage, theirs.rawMessage);
    });
  }

  it('a deadline that passes: DeadlineExceeded, and the stream is reset', async () => {
    const t0 = Date.now();
    const err = await failure(api.workers.getServerVersion({}, { headers: { 'x-answer': 'no answer' }, timeoutMs: 200 }));
    assert.equal(err.code, Code.DeadlineExceeded);
    assert.ok(Date.now() - t0 < 2000, `ended after ${Date.now() - t0} ms`);
    const entry = server.seen[server.seen.length - 1]!;
    for (let i = 0; i < 100 && entry.reset === undefined; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(entry.reset, http2.constants.NGHTTP2_CANCEL);
  });

  it('an abort: Canceled at once', async () => {
    const ac = new AbortController();
    const call = api.workers.getServerVersion({}, { headers: { 'x-answer': 'no answer' }, signal: ac.signal });
    setTimeout(() => ac.abort(), 50);
    assert.equal((await failure(call)).code, Code.Canceled);
    assert.equal((await failure(api.workers.getServerVersion({}, { signal: ac.signal }))).code, Code.Canceled, 'already aborted');
  });

  it('a server that takes the connection and never speaks: the deadline and an abort still end the call', async () => {
    const held: net.Socket[] = [];
    const mute = net.createServer((s) => held.push(s));
    await new Promise<void>((resolve) => mute.listen(0, '127.0.0.1', resolve));
    const silent = connectApi(`http://127.0.0.1:${(mute.address() as net.AddressInfo).port}`);
    try {
      const t0 = Date.now();
      const late = await failure(silent.workers.getServerVersion({}, { timeoutMs: 300 }));
      assert.equal(late.code, Code.DeadlineExceeded, late.message);
      assert.ok(Date.now() - t0 < 3000, `ended after ${Date.now() - t0} ms`);
      const ac = new AbortController();
      const call = silent.workers.getServerVersion({}, { signal: ac.signal });
      setTimeout(() => ac.abort(), 100);
      assert.equal((await failure(call)).code, Code.Canceled);
    } finally {
      silent.close();
      for (const s of held) s.destroy();
      await new Promise((r) => mute.close(r));
    }
  });

  it('no server at the address: Unavailable, as with connect-es', async () => {
    const closed = await scriptedServer();
    await closed.close();
    const gone = connectApi(closed.url);
    try {
      const err = await failure(gone.workers.getServerVersion({}));
      assert.equal(err.code, Code.Unavailable, err.message);
    } finally {
      gone.close();
    }
  });
});
