import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { createClient } from '@connectrpc/connect';
import { Http2SessionManager, createGrpcTransport } from '@connectrpc/connect-node';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import type { RunningServer } from '../../server/app.js';
import { startTestServer } from '../helpers/test-server.js';
import { createSqliteDatabase, tempDir, type TestDatabase } from '../helpers/databases.js';
import { TEST_ADMIN_TOKEN, bearer } from '../helpers/credentials.js';

const LIMITS = { headersMs: 600, idleMs: 1200, requestMs: 1500, maxPerAddress: 1000 };
const H2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function certificate(dir: string) {
  const key = path.join(dir, 'key.pem');
  const cert = path.join(dir, 'cert.pem');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { stdio: 'pipe' });
  return { cert: fs.readFileSync(cert), key: fs.readFileSync(key) };
}

type Conn = net.Socket | tls.TLSSocket;

/** Opens a connection (TLS with ALPN when asked) and resolves once it is ready to send. */
function open(port: number, secure?: 'h2' | 'http/1.1'): Promise<Conn> {
  return new Promise((resolve, reject) => {
    const s = secure
      ? tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false, ALPNProtocols: [secure] }, () => resolve(s))
      : net.connect({ host: '127.0.0.1', port }, () => resolve(s));
    s.on('error', () => undefined);
    s.once('error', reject);
  });
}

/** How long until the server closed the connection, or undefined when still open after `withinMs`. */
function closedWithin(s: Conn, withinMs: number): Promise<number | undefined> {
  const start = Date.now();
  return new Promise((resolve) => {
    if (s.destroyed || s.readableEnded) return resolve(0);
    const timer = setTimeout(() => resolve(undefined), withinMs);
    const done = () => {
      clearTimeout(timer);
      resolve(Date.now() - start);
    };
    s.once('close', done);
    s.once('end', done);
    s.resume();
  });
}

/** Writes the pieces one by one, `everyMs` apart, while the connection lasts. */
async function drip(s: Conn, pieces: string[], everyMs: number): Promise<void> {
  for (const p of pieces) {
    if (s.destroyed || s.writableEnded) return;
    s.write(p);
    await sleep(everyMs);
  }
}

for (const mode of ['h2c and HTTP/1.1 (plaintext)', 'TLS'] as const) {
  const secure = mode === 'TLS';
  describe(`security: slow clients cannot hold connections (${mode})`, function () {
    this.timeout(30_000);
    let db: TestDatabase;
    let server: RunningServer;

    before(async () => {
      db = await createSqliteDatabase();
      server = await startTestServer(db.url, { connectionLimits: LIMITS, tls: secure ? certificate(tempDir('slow-tls')) : undefined });
    });

    after(async () => {
      await server.close();
      await db.drop();
    });

    const limit = LIMITS.headersMs + 1500;

    it('5. closes a connection that sends nothing', async () => {
      const s = await open(server.port, secure ? 'h2' : undefined);
      assert.ok((await closedWithin(s, limit)) !== undefined, 'still open');
    });

    it('5. closes a connection that sends one byte', async () => {
      const s = await open(server.port, secure ? 'http/1.1' : undefined);
      s.write('P');
      assert.ok((await closedWithin(s, limit)) !== undefined, 'still open');
    });

    it('5. closes a connection that sends only the HTTP/2 preface', async () => {
      const s = await open(server.port, secure ? 'h2' : undefined);
      s.write(H2_PREFACE);
      assert.ok((await closedWithin(s, limit)) !== undefined, 'still open');
    });

    it('5. closes a connection that drips HTTP/1.1 headers, one line at a time', async () => {
      const s = await open(server.port, secure ? 'http/1.1' : undefined);
      const lines = ['GET /metrics HTTP/1.1\r\n', ...Array.from({ length: 40 }, (_, i) => `x-slow-${i}: ${i}\r\n`)];
      void drip(s, lines, 150);
      assert.ok((await closedWithin(s, limit)) !== undefined, 'still open');
    });

    it('5. closes a connection that drips an HTTP/1.1 request body', async () => {
      const s = await open(server.port, secure ? 'http/1.1' : undefined);
      s.write('POST /edge.v1.JobService/ListJobs HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n');
      void drip(s, Array.from({ length: 100 }, () => ' '), 150);
      assert.ok((await closedWithin(s, LIMITS.requestMs + 1500)) !== undefined, 'still open');
    });

    it('5. closes an idle keep-alive connection after its request', async () => {
      const s = await open(server.port, secure ? 'http/1.1' : undefined);
      s.write('GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n');
      const closed = await closedWithin(s, LIMITS.idleMs + 2000);
      assert.ok(closed !== undefined && closed >= LIMITS.idleMs - 100, `closed after ${closed} ms`);
    });

    it('5. cancels an HTTP/2 request whose body never ends', async () => {
      const c = http2.connect(`${secure ? 'https' : 'http'}://127.0.0.1:${server.port}`, { rejectUnauthorized: false });
      c.on('error', () => undefined);
      const start = Date.now();
      const req = c.request({ ':method': 'POST', ':path': '/edge.v1.JobService/ListJobs', 'content-type': 'application/grpc', te: 'trailers' });
      req.on('error', () => undefined);
      req.write(Buffer.from([0, 0, 0, 0, 5])); // a 5-byte message announced, never sent
      req.resume();
      const took = await new Promise<number>((resolve) => req.on('close', () => resolve(Date.now() - start)));
      assert.ok(took >= LIMITS.requestMs - 100 && took < LIMITS.requestMs + 1500, `closed after ${took} ms`);
      c.destroy();
    });

    it('5. closes an HTTP/2 session with no open stream, but never one with a live stream', async () => {
      const scheme = secure ? 'https' : 'http';
      const idle = http2.connect(`${scheme}://127.0.0.1:${server.port}`, { rejectUnauthorized: false });
      idle.on('error', () => undefined);
      await new Promise<void>((resolve) => idle.request({ ':path': '/grpc.health.v1.Health/Check', ':method': 'GET' }).on('close', resolve).resume().end());
      // An authenticated WatchJobs stream that receives nothing for longer than every deadline.
      const sessions = new Http2SessionManager(server.url, undefined, secure ? { rejectUnauthorized: false } : undefined);
      const jobs = createClient(JobService, createGrpcTransport({ baseUrl: server.url, sessionManager: sessions, interceptors: [bearer(TEST_ADMIN_TOKEN)], nodeOptions: secure ? { rejectUnauthorized: false } : undefined }));
      const ac = new AbortController();
      const watch = jobs.watchJobs({}, { signal: ac.signal })[Symbol.asyncIterator]();
      const first = watch.next();
      await sleep(Math.max(LIMITS.idleMs, LIMITS.requestMs, LIMITS.headersMs) + 1500);
      assert.ok(idle.closed || idle.destroyed, 'the idle session is still open');
      const { job } = await createClient(JobService, createGrpcTransport({ baseUrl: server.url, interceptors: [bearer(TEST_ADMIN_TOKEN)], nodeOptions: secure ? { rejectUnauthorized: false } : undefined })).submitJob({ spec: { argv: ['true'], queue: 'slow-live' } });
      // The live stream still delivers: its connection was never cut.
      let seen = false;
      for (let r = await first; !r.done; r = await watch.next()) {
        if (r.value.events.some((e) => e.jobId === job!.id)) {
          seen = true;
          break;
        }
      }
      assert.ok(seen);
      ac.abort();
      sessions.abort();
    });
  });
}

describe('security: connections per source address', function () {
  this.timeout(30_000);
  let db: TestDatabase;
  let server: RunningServer;

  before(async () => {
    db = await createSqliteDatabase();
    server = await startTestServer(db.url, { connectionLimits: { maxPerAddress: 3 } });
  });

  after(async () => {
    await server.close();
    await db.drop();
  });

  it('5. closes connections from one address past the limit at once, and takes new ones when others end', async () => {
    const held = await Promise.all([open(server.port), open(server.port), open(server.port)]);
    await sleep(100);
    const extra = await open(server.port);
    assert.ok((await closedWithin(extra, 1000)) !== undefined, 'a fourth connection was kept');
    held[0]!.destroy();
    await sleep(200);
    const again = await open(server.port);
    again.write('GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    const reply = await new Promise<string>((resolve) => {
      let out = '';
      again.on('data', (d) => (out += d.toString()));
      again.on('close', () => resolve(out));
    });
    assert.match(reply, /^HTTP\/1\.1 \d{3} /);
    for (const s of held) s.destroy();
  });
});
