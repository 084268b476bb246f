import assert from 'node:assert/strict';
import { Code, createClient, type Client } from '@connectrpc/connect';
import { Http2SessionManager, createGrpcTransport } from '@connectrpc/connect-node';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { LogService } from '../../gen/edge/v1/log_service_pb.js';
import { TokenKind, TokenService } from '../../gen/edge/v1/token_service_pb.js';
import { WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { VERSION } from '../../shared/version.js';
import type { RunningServer } from '../../server/app.js';
import { startTestServer } from '../helpers/test-server.js';
import { DATABASES, type TestDatabase } from '../helpers/databases.js';
import { TEST_ADMIN_TOKEN, bearer } from '../helpers/credentials.js';
import { codeOf } from '../helpers/rpc-errors.js';

const text = (s: string) => new TextEncoder().encode(s);
const NO_SUCH_JOB = '01900000-0000-7000-8000-000000000000';

for (const { name: dbName, create } of DATABASES) {
  describe(`security: worker names, reports and logs stay within a team and an attempt (${dbName})`, function () {
    let db: TestDatabase;
    let server: RunningServer;
    let sessions: Http2SessionManager;

    before(async () => {
      db = await create();
      server = await startTestServer(db.url, { retryBackoffSeconds: 0 });
      sessions = new Http2SessionManager(server.url);
    });

    after(async () => {
      sessions.abort();
      await server.close();
      await db.drop();
    });

    const transport = (token: string) => createGrpcTransport({ baseUrl: server.url, sessionManager: sessions, interceptors: [bearer(token)] });
    const admin = () => ({
      jobs: createClient(JobService, transport(TEST_ADMIN_TOKEN)),
      logs: createClient(LogService, transport(TEST_ADMIN_TOKEN)),
      tokens: createClient(TokenService, transport(TEST_ADMIN_TOKEN)),
    });

    async function team(team: string) {
      const { tokens } = admin();
      const adminSecret = (await tokens.createToken({ kind: TokenKind.ADMIN, name: `${team} ops`, team })).secret;
      const regSecret = (await tokens.createToken({ kind: TokenKind.REGISTRATION, name: `${team} workers`, team })).secret;
      return { jobs: createClient(JobService, transport(adminSecret)), logs: createClient(LogService, transport(adminSecret)), regSecret };
    }

    async function register(name: string, queue: string, secret: string) {
      const res = await createClient(WorkerService, transport(secret)).registerWorker({ name, queues: [queue], concurrency: 1, version: VERSION });
      const t = transport(res.workerToken);
      return { token: res.workerToken, workers: createClient(WorkerService, t), logs: createClient(LogService, t) };
    }

    /** Registers again with the worker's own token, as a restarted worker does. */
    async function registerWithToken(name: string, queue: string, token: string) {
      await createClient(WorkerService, transport(token)).registerWorker({ name, queues: [queue], concurrency: 1, version: VERSION });
      const t = transport(token);
      return { token, workers: createClient(WorkerService, t), logs: createClient(LogService, t) };
    }

    /** Waits on a worker's job stream for the assignment of a job; returns its attempt. */
    async function assignment(w: { workers: Client<typeof WorkerService> }, name: string, jobId: string): Promise<number> {
      const ac = new AbortController();
      try {
        for await (const ev of w.workers.fetchJobs({ workerName: name }, { signal: ac.signal, timeoutMs: 15_000 })) {
          if (ev.event.case === 'assignment' && ev.event.value.job?.id === jobId) return ev.event.value.attempt;
        }
      } finally {
        ac.abort();
      }
      throw new Error(`no assignment of ${jobId} to ${name}`);
    }

    const upload = (w: { logs: Client<typeof LogService> }, jobId: string, attempt: number, offset: number, data: string) =>
      w.logs.uploadLogs(
        (async function* () {
          yield { jobId, attempt, offset: BigInt(offset), data: text(data) };
        })(),
      );

    it('1. keeps a worker name with its team: another team cannot register it, even once it is offline', async () => {
      const a = await team('name-a');
      const b = await team('name-b');
      const wa = await register('name-held', 'name-q', a.regSecret);
      const { job } = await a.jobs.submitJob({ spec: { argv: ['true'], queue: 'name-q', env: { SECRET: 'team-a-secret' }, maxAttempts: 1 } });
      const attempt = await assignment(wa, 'name-held', job!.id);
      await wa.workers.updateJobState({ workerName: 'name-held', jobId: job!.id, attempt, state: JobState.RUNNING });
      // Team A's worker says goodbye (the job it held ends with it): its name is still team A's.
      await wa.workers.heartbeat({ workerName: 'name-held', state: WorkerState.OFFLINE });
      const e = await codeOf(createClient(WorkerService, transport(b.regSecret)).registerWorker({ name: 'name-held', queues: ['name-q'], concurrency: 1, version: VERSION }));
      assert.equal(e.code, Code.AlreadyExists);
      assert.match(e.message, /worker name name-held belongs to another team; choose another name/);
      // Nothing moved: the job ended for the goodbye, not for team B, and team A takes its name back.
      const still = (await a.jobs.getJob({ id: job!.id })).job!;
      assert.equal(still.workerName, 'name-held');
      const { attempts } = await a.jobs.listJobAttempts({ jobId: job!.id });
      assert.notEqual(attempts[0]!.reason, 'worker re-registered');
      const back = await register('name-held', 'name-q', a.regSecret);
      assert.ok(back.token);
    });

    it('1. refuses a report on another team\'s job, with the same answer as for a job that does not exist', async () => {
      const a = await team('rep-a');
      const b = await team('rep-b');
      const wa = await register('rep-a-w', 'rep-q', a.regSecret);
      const wb = await register('rep-b-w', 'rep-q', b.regSecret);
      const { job } = await a.jobs.submitJob({ spec: { argv: ['true'], queue: 'rep-q', env: { SECRET: 'team-a-secret' } } });
      const attempt = await assignment(wa, 'rep-a-w', job!.id);
      for (const jobId of [job!.id, NO_SUCH_JOB]) {
        const e = await codeOf(wb.workers.updateJobState({ workerName: 'rep-b-w', jobId, attempt, state: JobState.SUCCEEDED }));
        assert.equal(e.code, Code.PermissionDenied, e.message);
        assert.equal(e.message, `job ${jobId} is not assigned to worker rep-b-w`);
        assert.ok(!e.message.includes('team-a-secret'));
        const r = await codeOf(wb.logs.readLogs({ jobId }));
        assert.equal(r.code, Code.PermissionDenied, r.message);
        assert.equal(r.message, `job ${jobId} is not assigned to worker rep-b-w`);
      }
      assert.equal((await a.jobs.getJob({ id: job!.id })).job!.state, JobState.ASSIGNED);
    });

    it('1. ends the attempts a name held when its own team registers it again ("worker re-registered")', async () => {
      const a = await team('rereg-a');
      const wa = await register('rereg-w', 'rereg-q', a.regSecret);
      const { job } = await a.jobs.submitJob({ spec: { argv: ['true'], queue: 'rereg-q', maxAttempts: 2 } });
      const attempt = await assignment(wa, 'rereg-w', job!.id);
      await wa.workers.updateJobState({ workerName: 'rereg-w', jobId: job!.id, attempt, state: JobState.RUNNING });
      // A new run of the worker (restarted with its saved token, without a goodbye) registers again.
      const again = await registerWithToken('rereg-w', 'rereg-q', wa.token);
      const { attempts } = await admin().jobs.listJobAttempts({ jobId: job!.id });
      assert.equal(attempts[0]!.state, JobState.FAILED);
      assert.equal(attempts[0]!.reason, 'worker re-registered');
      // Attempts remain: it runs again, on the new run of the worker.
      const second = await assignment(again, 'rereg-w', job!.id);
      assert.equal(second, 2);
      // The old run cannot report on the attempt it lost.
      assert.equal((await codeOf(wa.workers.updateJobState({ workerName: 'rereg-w', jobId: job!.id, attempt, state: JobState.SUCCEEDED, exitCode: 0 }))).code, Code.FailedPrecondition);
    });

    it('2. fences log writes and reads by the attempt the worker holds now', async () => {
      const a = await team('fence');
      const w1 = await register('fence-1', 'fence-q', a.regSecret);
      const { job } = await a.jobs.submitJob({ spec: { argv: ['true'], queue: 'fence-q', maxAttempts: 2 } });
      const jobId = job!.id;
      const first = await assignment(w1, 'fence-1', jobId);
      await w1.workers.updateJobState({ workerName: 'fence-1', jobId, attempt: first, state: JobState.RUNNING });
      await upload(w1, jobId, first, 0, 'attempt 1\n');
      await w1.workers.updateJobState({ workerName: 'fence-1', jobId, attempt: first, state: JobState.FAILED, exitCode: 1 });
      await w1.workers.heartbeat({ workerName: 'fence-1', state: WorkerState.OFFLINE });
      const w2 = await register('fence-2', 'fence-q', a.regSecret);
      const second = await assignment(w2, 'fence-2', jobId);
      assert.equal(second, 2);
      await w2.workers.updateJobState({ workerName: 'fence-2', jobId, attempt: second, state: JobState.RUNNING });
      // The worker of attempt 1 neither writes into attempt 2 nor reads it (nor its own past attempt).
      const write = await codeOf(upload(w1, jobId, second, 0, 'forged!\n'));
      assert.equal(write.code, Code.FailedPrecondition, write.message);
      assert.match(write.message, /attempt 2 of job .* is not held by worker fence-1 \(the job is at attempt 2 on worker fence-2\)/);
      assert.equal((await codeOf(upload(w1, jobId, first, 10, 'late\n'))).code, Code.FailedPrecondition);
      for (const attempt of [0, first, second]) {
        assert.equal((await codeOf(w1.logs.readLogs({ jobId, attempt }))).code, Code.FailedPrecondition, `read attempt ${attempt}`);
      }
      // The holder's own bytes are stored, none dropped as "already stored".
      await upload(w2, jobId, second, 0, 'attempt 2\n');
      assert.equal(new TextDecoder().decode((await w2.logs.readLogs({ jobId, attempt: second })).data), 'attempt 2\n');
      assert.equal(new TextDecoder().decode((await admin().logs.readLogs({ jobId, attempt: second })).data), 'attempt 2\n');
      assert.equal(new TextDecoder().decode((await admin().logs.readLogs({ jobId, attempt: first })).data), 'attempt 1\n');
    });

    it('2. refuses the store a chunk from a worker that no longer holds the attempt, under the job lock', async () => {
      const a = await team('fence-store');
      const w = await register('fence-store-w', 'fence-store-q', a.regSecret);
      const { job } = await a.jobs.submitJob({ spec: { argv: ['true'], queue: 'fence-store-q' } });
      const attempt = await assignment(w, 'fence-store-w', job!.id);
      assert.equal(await server.store.appendLog(job!.id, attempt, 0, text('ok\n'), 'fence-store-w'), 3);
      await assert.rejects(server.store.appendLog(job!.id, attempt, 3, text('no\n'), 'someone-else'), { kind: 'stale' });
    });
  });
}
