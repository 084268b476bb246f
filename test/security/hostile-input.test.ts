import assert from 'node:assert/strict';
import http2 from 'node:http2';
import { Code, createClient } from '@connectrpc/connect';
import { Http2SessionManager, createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import { LogService } from '../../gen/edge/v1/log_service_pb.js';
import { TokenKind, TokenService } from '../../gen/edge/v1/token_service_pb.js';
import { WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import { VERSION } from '../../shared/version.js';
import type { RunningServer } from '../../server/app.js';
import { startTestServer } from '../helpers/test-server.js';
import { createSqliteDatabase, type TestDatabase } from '../helpers/databases.js';
import { TEST_ADMIN_TOKEN, TEST_REGISTRATION_SECRET, bearer } from '../helpers/credentials.js';
import { codeOf } from '../helpers/rpc-errors.js';

const MiB = 1024 * 1024;
const NO_SUCH_JOB = '01900000-0000-7000-8000-000000000000';

describe('security: hostile input and floods', function () {
  this.timeout(60_000);
  let db: TestDatabase;
  let server: RunningServer;
  let sessions: Http2SessionManager;

  before(async () => {
    db = await createSqliteDatabase();
    server = await startTestServer(db.url);
    sessions = new Http2SessionManager(server.url);
  });

  after(async () => {
    sessions.abort();
    await server.close();
    await db.drop();
  });

  const transport = (token: string) => createGrpcTransport({ baseUrl: server.url, sessionManager: sessions, interceptors: [bearer(token)] });
  const register = (name: string) => createClient(WorkerService, transport(TEST_REGISTRATION_SECRET)).registerWorker({ name, queues: [name], concurrency: 1, version: VERSION });

  it('6. refuses a 5 MB log chunk with ResourceExhausted and closes the upload, even for a client still sending', async () => {
    const { workerToken } = await register('big-chunk');
    // A client that writes its whole request before it reads the answer.
    const session = http2.connect(server.url);
    session.on('error', () => undefined);
    try {
      const req = session.request({
        ':method': 'POST',
        ':path': '/edge.v1.LogService/UploadLogs',
        'content-type': 'application/grpc',
        te: 'trailers',
        authorization: `Bearer ${workerToken}`,
      });
      req.on('error', () => undefined);
      let status: string | undefined;
      req.on('response', (h) => (status ??= h['grpc-status'] as string | undefined));
      req.on('trailers', (t) => (status ??= t['grpc-status'] as string | undefined));
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(5 * MiB, 1);
      req.write(prefix);
      req.write(Buffer.alloc(5 * MiB));
      req.resume();
      const closed = await Promise.race([new Promise<boolean>((r) => req.on('close', () => r(true))), new Promise<boolean>((r) => setTimeout(() => r(false), 5000))]);
      assert.ok(closed, 'the upload was left open');
      assert.equal(status, String(Code.ResourceExhausted));
    } finally {
      session.destroy();
    }
    // Through the client library, each on a connection of its own: a Node client keeps an unsent
    // 5 MB in its session's memory budget (10 MB) after the stream ends, which is the client's affair.
    for (let i = 0; i < 3; i++) {
      const own = new Http2SessionManager(server.url);
      const logs = createClient(LogService, createGrpcTransport({ baseUrl: server.url, sessionManager: own, interceptors: [bearer(workerToken)] }));
      const e = await codeOf(
        logs.uploadLogs(
          (async function* () {
            yield { jobId: NO_SUCH_JOB, attempt: 1, offset: 0n, data: new Uint8Array(5 * MiB) };
            await new Promise((r) => setTimeout(r, 30_000));
          })(),
          { timeoutMs: 10_000 },
        ),
      );
      assert.equal(e.code, Code.ResourceExhausted, `upload ${i}: ${e.message}`);
      own.abort();
    }
  });

  it('6. answers an over-size unary call over HTTP/1.1 with ResourceExhausted, and the same keep-alive client is answered next', async () => {
    // Found by the fuzz test: the unread rest of the body was taken for the next request on the connection.
    const h1 = (token?: string) => createConnectTransport({ baseUrl: server.url, httpVersion: '1.1', interceptors: token ? [bearer(token)] : [] });
    const big = await codeOf(
      createClient(JobService, h1(TEST_ADMIN_TOKEN)).submitJob({ spec: { argv: ['true'], queue: 'q', env: { BIG: 'x'.repeat(5 * MiB) } } }, { timeoutMs: 10_000 }),
    );
    assert.equal(big.code, Code.ResourceExhausted, big.message);
    const next = await codeOf(createClient(JobService, h1()).listJobs({}, { timeoutMs: 5_000 }));
    assert.equal(next.code, Code.Unauthenticated, next.message);
    await createClient(JobService, h1(TEST_ADMIN_TOKEN)).listJobs({}, { timeoutMs: 5_000 });
  });

  it('6. gives a worker token one answer for a job that does not exist and one it never held, on every job path', async () => {
    const a = await register('oracle-a');
    const b = await register('oracle-b');
    const { job } = await createClient(JobService, transport(TEST_ADMIN_TOKEN)).submitJob({ spec: { argv: ['true'], queue: 'oracle-a' } });
    const ac = new AbortController();
    for await (const ev of createClient(WorkerService, transport(a.workerToken)).fetchJobs({ workerName: 'oracle-a' }, { signal: ac.signal })) {
      if (ev.event.case === 'assignment') break;
    }
    ac.abort();
    const workers = createClient(WorkerService, transport(b.workerToken));
    const logs = createClient(LogService, transport(b.workerToken));
    const answers = async (jobId: string) => {
      const out: string[] = [];
      for (const call of [
        () => workers.updateJobState({ workerName: 'oracle-b', jobId, attempt: 1, state: 3 }),
        () => logs.readLogs({ jobId }),
        () => logs.uploadLogs((async function* () {
          yield { jobId, attempt: 1, offset: 0n, data: new TextEncoder().encode('x') };
        })()),
      ]) {
        const e = await codeOf(call() as Promise<unknown>);
        out.push(`${Code[e.code]}: ${e.message.replace(jobId, 'JOB')}`);
      }
      return out;
    };
    const existing = await answers(job!.id);
    assert.deepEqual(existing, await answers(NO_SUCH_JOB));
    assert.ok(existing.every((a) => a.startsWith('PermissionDenied')), existing.join('\n'));
  });

  it('6. refuses the worker names . and .., which would name folders above the state dir', async () => {
    for (const name of ['.', '..']) {
      const e = await codeOf(register(name));
      assert.equal(e.code, Code.InvalidArgument);
      assert.match(e.message, /is not allowed/);
    }
  });

  it('6. serves /metrics only to an admin token of no team', async () => {
    const tokens = createClient(TokenService, transport(TEST_ADMIN_TOKEN));
    const team = (await tokens.createToken({ kind: TokenKind.ADMIN, name: 'metrics team', team: 'metrics-team' })).secret;
    const metrics = (token?: string) => fetch(`${server.url}/metrics`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    const anonymous = await metrics();
    assert.equal(anonymous.status, 401);
    assert.doesNotMatch(await anonymous.text(), /edge_jobs/);
    assert.equal((await metrics('garbage')).status, 401);
    assert.equal((await metrics(TEST_REGISTRATION_SECRET)).status, 403);
    assert.equal((await metrics(team)).status, 403);
    const ok = await metrics(TEST_ADMIN_TOKEN);
    assert.equal(ok.status, 200);
    assert.match(await ok.text(), /^# TYPE edge_jobs gauge$/m);
  });

  it('6. holds a flood of live streams without a MaxListenersExceededWarning', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error) => warnings.push(`${w.name}: ${w.message}`);
    process.on('warning', onWarning);
    const jobs = createClient(JobService, transport(TEST_ADMIN_TOKEN));
    const acs = Array.from({ length: 100 }, () => new AbortController());
    try {
      const streams = acs.map((ac) => jobs.watchJobs({}, { signal: ac.signal })[Symbol.asyncIterator]());
      await Promise.all(streams.map((s) => s.next()));
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      for (const ac of acs) ac.abort();
      await new Promise((r) => setTimeout(r, 100));
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings.filter((w) => w.includes('MaxListeners')), []);
  });
});
