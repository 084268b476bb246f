import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type net from 'node:net';
import { Code, ConnectError } from '@connectrpc/connect';
import { connectApi, type Api } from '../../../../../worker-cli/src/lib/api.js';

/**
 * A bare HTTP/2 server that takes calls and never answers them, and can end a connection the way a
 * replica stopping with SIGTERM may: a GOAWAY (NO_ERROR) first, then the socket reset while calls are
 * still open (the stopping server cuts connections whose calls outlast its grace; the kernel resets
 * a socket closed with unread bytes).
 */
async function silentServer() {
  const sockets: net.Socket[] = [];
  const streams: http2.ServerHttp2Stream[] = [];
  const server = http2.createServer();
  server.on('connection', (s: net.Socket) => sockets.push(s));
  server.on('stream', (stream, headers) => {
    streams.push(stream);
    stream.on('error', () => undefined);
    stream.resume(); // read and drop what the client sends
    // A server stream is live: its response has begun, its end has not come.
    if (String(headers[':path']).endsWith('/FetchJobs')) stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  return {
    url,
    async callArrived(): Promise<void> {
      for (let i = 0; i < 500 && !streams.length; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(streams.length, 'the call reached the server');
    },
    /** GOAWAY (NO_ERROR) on the connection, then a reset of its socket once the client has read the GOAWAY. */
    async goAwayThenReset(): Promise<void> {
      const session = streams[0]!.session!;
      session.goaway(http2.constants.NGHTTP2_NO_ERROR, streams[streams.length - 1]!.id!);
      // The PING's answer comes after the client has handled the GOAWAY sent before it.
      await new Promise<void>((resolve, reject) => session.ping((err) => (err ? reject(err) : resolve())));
      for (const s of sockets) s.resetAndDestroy();
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** How a call ended, or 'pending' when it had not ended within `ms`. */
async function outcome(call: Promise<unknown>, ms = 10_000): Promise<ConnectError | 'resolved' | 'pending'> {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Promise<'pending'>((resolve) => (timer = setTimeout(() => resolve('pending'), ms)));
  try {
    return await Promise.race([call.then(() => 'resolved' as const, (err: unknown) => ConnectError.from(err)), pending]);
  } finally {
    clearTimeout(timer);
  }
}

describe('connectApi: a call on a connection reset after a GOAWAY fails instead of waiting for ever', () => {
  let server: Awaited<ReturnType<typeof silentServer>>;
  let api: Api;
  let stopSending: () => void;
  let requestDone: Promise<void>;

  beforeEach(async () => {
    server = await silentServer();
    api = connectApi(server.url, 'a-token');
    requestDone = new Promise<void>((resolve) => (stopSending = resolve));
  });

  afterEach(async () => {
    stopSending();
    api.close();
    await server.close();
  });

  /** An upload whose job still runs: one chunk, then nothing until the test ends. */
  async function* liveUpload() {
    yield { jobId: 'j', attempt: 1, offset: 0n, data: Buffer.from('line 1\n') };
    await requestDone;
  }

  const calls: [string, (api: Api) => Promise<unknown>][] = [
    ['a log upload (client stream, no deadline) whose job still runs', (a) => a.logs.uploadLogs(liveUpload())],
    ['a unary call without a deadline', (a) => a.workers.heartbeat({ workerName: 'w' })],
    [
      'a job stream (server stream) that is live',
      async (a) => {
        for await (const ev of a.workers.fetchJobs({ workerName: 'w' })) void ev;
      },
    ],
  ];

  for (const [what, start] of calls) {
    it(`${what}: Unavailable, so that it is tried again on another replica`, async () => {
      const call = start(api);
      call.catch(() => undefined);
      await server.callArrived();
      await server.goAwayThenReset();
      const o = await outcome(call);
      assert.notEqual(o, 'pending', 'the call never ended: its connection was reset after a GOAWAY');
      assert.ok(o instanceof ConnectError, `the call failed (${String(o)})`);
      assert.equal(o.code, Code.Unavailable, o.message);
    });
  }
});
