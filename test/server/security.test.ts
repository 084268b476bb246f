import assert from 'node:assert/strict';
import type { DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Client, type Transport } from '@connectrpc/connect';
import { Http2SessionManager, createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import { LogService } from '../../gen/edge/v1/log_service_pb.js';
import { TokenKind, TokenService } from '../../gen/edge/v1/token_service_pb.js';
import { WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import { Health } from '../../gen/grpc/health/v1/health_pb.js';
import { VERSION } from '../../shared/version.js';
import type { RunningServer } from '../../server/app.js';
import { startTestServer } from '../helpers/test-server.js';
import { createSqliteDatabase, type TestDatabase } from '../helpers/databases.js';
import { TEST_ADMIN_TOKEN, TEST_REGISTRATION_SECRET, bearer } from '../helpers/credentials.js';
import { codeOf } from '../helpers/rpc-errors.js';

/** The first message of a stream (to see how the call ends). */
const first = (it: AsyncIterable<unknown>) => it[Symbol.asyncIterator]().next();

const SERVICES: DescService[] = [JobService, WorkerService, LogService, TokenService];
const JOB_ID = '01900000-0000-7000-8000-000000000000';


/** Calls any RPC with a message, whatever its kind, to its end. */
export async function callAny(transport: Transport, service: DescService, method: string, message: Record<string, unknown> = {}): Promise<void> {
  const client = createClient(service, transport) as unknown as Record<string, (...a: unknown[]) => unknown>;
  const m = service.methods.find((x) => x.name === method)!;
  const fn = client[m.localName]!;
  if (m.methodKind === 'unary') {
    await fn(message, { timeoutMs: 10_000 });
  } else if (m.methodKind === 'server_streaming') {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), 500);
    try {
      for await (const _ of fn(message, { signal: ac.signal }) as AsyncIterable<unknown>) break;
    } catch (err) {
      if (!ac.signal.aborted || ConnectError.from(err).code !== Code.Canceled) throw err;
    } finally {
      clearTimeout(timer);
    }
  } else {
    await fn((async function* () {
      yield message;
    })(), { timeoutMs: 10_000 });
  }
}

describe('security: credentials and scopes', function () {
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

  const grpcWith = (token?: string) => createGrpcTransport({ baseUrl: server.url, sessionManager: sessions, interceptors: token ? [bearer(token)] : [] });
  const connectWith = (token?: string) => createConnectTransport({ baseUrl: server.url, httpVersion: '1.1', interceptors: token ? [bearer(token)] : [] });
  const admin = () => ({
    jobs: createClient(JobService, grpcWith(TEST_ADMIN_TOKEN)),
    workers: createClient(WorkerService, grpcWith(TEST_ADMIN_TOKEN)),
    logs: createClient(LogService, grpcWith(TEST_ADMIN_TOKEN)),
    tokens: createClient(TokenService, grpcWith(TEST_ADMIN_TOKEN)),
  });

  /** Registers a worker with the registration secret; returns its own token and clients that use it. */
  async function registerWorker(name: string, queue: string, secret = TEST_REGISTRATION_SECRET) {
    const res = await createClient(WorkerService, grpcWith(secret)).registerWorker({ name, queues: [queue], concurrency: 2, version: VERSION });
    assert.match(res.workerToken, /^edge_worker_/);
    const t = grpcWith(res.workerToken);
    return { token: res.workerToken, worker: res.worker!, workers: createClient(WorkerService, t), logs: createClient(LogService, t), jobs: createClient(JobService, t) };
  }

  /** Opens a worker's job stream and submits a job it receives. */
  async function assignedJob(w: { workers: Client<typeof WorkerService> }, name: string, queue: string, submitter = admin().jobs) {
    const ac = new AbortController();
    const stream = w.workers.fetchJobs({ workerName: name }, { signal: ac.signal })[Symbol.asyncIterator]();
    const { job } = await submitter.submitJob({ spec: { argv: ['true'], queue } });
    for (;;) {
      const { value } = await stream.next();
      if (value?.event.case === 'assignment' && value.event.value.job?.id === job!.id) {
        ac.abort();
        return { jobId: job!.id, attempt: value.event.value.attempt };
      }
    }
  }

  it('answers Unauthenticated to every RPC of every edge service without a token, over gRPC and Connect', async () => {
    let calls = 0;
    for (const transport of [grpcWith(), connectWith()]) {
      for (const service of SERVICES) {
        for (const m of service.methods) {
          const e = await codeOf(callAny(transport, service, m.name));
          assert.equal(e.code, Code.Unauthenticated, `${service.typeName}/${m.name}: ${e.message}`);
          calls++;
        }
      }
    }
    assert.ok(calls >= 2 * 24, `${calls} calls`);
    // A malformed or unknown token is no better.
    for (const token of ['nope', 'edge_admin_' + 'x'.repeat(43), 'a'.repeat(5000)]) {
      assert.equal((await codeOf(createClient(JobService, grpcWith(token)).listJobs({}))).code, Code.Unauthenticated);
    }
  });

  it('leaves health and reflection open', async () => {
    const res = await createClient(Health, grpcWith()).check({});
    assert.equal(res.status, 1);
  });

  it('refuses a revoked admin token with Unauthenticated, and never shows a token twice', async () => {
    const { token, secret } = await admin().tokens.createToken({ kind: TokenKind.ADMIN, name: 'scheduler' });
    assert.match(secret, /^edge_admin_[A-Za-z0-9_-]{43}$/);
    const jobs = createClient(JobService, grpcWith(secret));
    await jobs.listJobs({});
    const listed = await admin().tokens.listTokens({});
    assert.ok(listed.tokens.some((t) => t.id === token!.id));
    assert.ok(!JSON.stringify(listed.tokens, (_k, v) => (typeof v === 'bigint' ? String(v) : v)).includes(secret));
    await admin().tokens.revokeToken({ id: token!.id });
    const e = await codeOf(jobs.listJobs({}));
    assert.equal(e.code, Code.Unauthenticated);
    assert.ok(!e.message.includes(secret));
  });

  it('refuses a revoked worker token, and a worker token on operator RPCs with PermissionDenied', async () => {
    const w = await registerWorker('sec-op', 'sec-op');
    for (const call of [
      () => w.jobs.listJobs({}),
      () => w.jobs.submitJob({ spec: { argv: ['true'] } }),
      () => w.workers.listWorkers({}),
      () => w.workers.shutdownWorker({ name: 'sec-op' }),
      () => w.workers.removeWorker({ name: 'sec-op' }),
      () => w.workers.updateWorker({ name: 'sec-op', concurrency: 3 }),
      () => first(w.logs.tailLogs({ jobId: JOB_ID })),
      () => createClient(TokenService, grpcWith(w.token)).listTokens({}),
    ]) {
      assert.equal((await codeOf(call() as Promise<unknown>)).code, Code.PermissionDenied);
    }
    // The registration secret only registers.
    assert.equal((await codeOf(createClient(JobService, grpcWith(TEST_REGISTRATION_SECRET)).listJobs({}))).code, Code.PermissionDenied);
    const listed = await admin().tokens.listTokens({});
    const mine = listed.tokens.find((t) => t.workerName === 'sec-op')!;
    await admin().tokens.revokeToken({ id: mine.id });
    assert.equal((await codeOf(w.workers.heartbeat({ workerName: 'sec-op', state: 2 }))).code, Code.Unauthenticated);
  });

  it('lets a worker token act only as its worker and on its own jobs', async () => {
    const a = await registerWorker('sec-a', 'sec-q');
    const b = await registerWorker('sec-b', 'sec-other');
    const { jobId, attempt } = await assignedJob(a, 'sec-a', 'sec-q');
    // Fetching, heartbeating, registering or maintaining as another worker.
    assert.equal((await codeOf(first(b.workers.fetchJobs({ workerName: 'sec-a' })))).code, Code.PermissionDenied);
    assert.equal((await codeOf(b.workers.heartbeat({ workerName: 'sec-a', state: 2 }))).code, Code.PermissionDenied);
    assert.equal((await codeOf(b.workers.registerWorker({ name: 'sec-a', queues: ['x'], concurrency: 1, version: VERSION }))).code, Code.PermissionDenied);
    assert.equal((await codeOf(b.workers.setWorkerMaintenance({ name: 'sec-a', change: 1, comment: 'x' }))).code, Code.PermissionDenied);
    // Another worker's job: reports, log uploads and reads.
    assert.equal((await codeOf(b.workers.updateJobState({ workerName: 'sec-b', jobId, attempt, state: 3 }))).code, Code.PermissionDenied);
    assert.equal((await codeOf(b.workers.updateJobState({ workerName: 'sec-a', jobId, attempt, state: 3 }))).code, Code.PermissionDenied);
    const upload = b.logs.uploadLogs((async function* () {
      yield { jobId, attempt, offset: 0n, data: new TextEncoder().encode('forged\n') };
    })());
    assert.equal((await codeOf(upload)).code, Code.PermissionDenied);
    assert.equal((await codeOf(b.logs.readLogs({ jobId }))).code, Code.PermissionDenied);
    // Its own worker may.
    await a.workers.updateJobState({ workerName: 'sec-a', jobId, attempt, state: 3 });
    await a.logs.uploadLogs((async function* () {
      yield { jobId, attempt, offset: 0n, data: new TextEncoder().encode('mine\n') };
    })());
    const read = await admin().logs.readLogs({ jobId });
    assert.equal(new TextDecoder().decode(read.data), 'mine\n');
  });

  it('refuses the registration of a name a live worker holds (AlreadyExists), but not its own token', async () => {
    const a = await registerWorker('sec-live', 'sec-live');
    const e = await codeOf(createClient(WorkerService, grpcWith(TEST_REGISTRATION_SECRET)).registerWorker({ name: 'sec-live', queues: ['x'], concurrency: 1, version: VERSION }));
    assert.equal(e.code, Code.AlreadyExists);
    const again = await a.workers.registerWorker({ name: 'sec-live', queues: ['sec-live'], concurrency: 1, version: VERSION });
    assert.equal(again.workerToken, '');
  });

  it('revokes the token of a removed worker', async () => {
    const w = await registerWorker('sec-gone', 'sec-gone');
    await w.workers.heartbeat({ workerName: 'sec-gone', state: 5 /* OFFLINE */ });
    await admin().workers.removeWorker({ name: 'sec-gone' });
    assert.equal((await codeOf(w.workers.heartbeat({ workerName: 'sec-gone', state: 2 }))).code, Code.Unauthenticated);
  });

  it('keeps teams apart: a team token sees and touches only its team, whatever the request says', async () => {
    const { tokens } = admin();
    const teamA = (await tokens.createToken({ kind: TokenKind.ADMIN, name: 'a ops', team: 'team-a' })).secret;
    const teamB = (await tokens.createToken({ kind: TokenKind.ADMIN, name: 'b ops', team: 'team-b' })).secret;
    const regA = (await tokens.createToken({ kind: TokenKind.REGISTRATION, name: 'a workers', team: 'team-a' })).secret;
    const jobsA = createClient(JobService, grpcWith(teamA));
    const jobsB = createClient(JobService, grpcWith(teamB));
    const logsB = createClient(LogService, grpcWith(teamB));
    const workersB = createClient(WorkerService, grpcWith(teamB));
    const wa = await registerWorker('team-a-w', 'team-q', regA);
    assert.equal(wa.worker.team, 'team-a');
    const { jobId } = await assignedJob(wa, 'team-a-w', 'team-q', jobsA);
    assert.equal((await jobsA.getJob({ id: jobId })).job!.team, 'team-a');
    // Team B neither sees nor touches team A's job or worker.
    assert.equal((await codeOf(jobsB.getJob({ id: jobId }))).code, Code.NotFound);
    assert.equal((await codeOf(jobsB.cancelJob({ id: jobId }))).code, Code.NotFound);
    assert.equal((await codeOf(jobsB.listJobAttempts({ jobId }))).code, Code.NotFound);
    assert.equal((await codeOf(logsB.readLogs({ jobId }))).code, Code.NotFound);
    assert.equal((await codeOf(first(logsB.tailLogs({ jobId })))).code, Code.NotFound);
    assert.ok(!(await jobsB.listJobs({ pageSize: 1000 })).jobs.some((j) => j.id === jobId));
    assert.ok((await jobsA.listJobs({ pageSize: 1000 })).jobs.some((j) => j.id === jobId));
    assert.equal((await codeOf(workersB.getWorker({ name: 'team-a-w' }))).code, Code.NotFound);
    assert.equal((await codeOf(workersB.shutdownWorker({ name: 'team-a-w' }))).code, Code.NotFound);
    assert.ok(!(await workersB.listWorkers({})).workers.some((w) => w.name === 'team-a-w'));
    // A team token creates tokens of its own team only.
    const tokensB = createClient(TokenService, grpcWith(teamB));
    assert.equal((await codeOf(tokensB.createToken({ kind: TokenKind.ADMIN, name: 'escalate', team: '' }))).code, Code.PermissionDenied);
    assert.ok((await tokensB.listTokens({})).tokens.every((t) => t.team === 'team-b'));
    // Team B's job never goes to team A's worker: it waits for a worker of team B.
    const { job } = await jobsB.submitJob({ spec: { argv: ['true'], queue: 'team-q' } });
    assert.equal(job!.team, 'team-b');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await jobsB.getJob({ id: job!.id })).job!.state, 1 /* QUEUED */);
  });
});
