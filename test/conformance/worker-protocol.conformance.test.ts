import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { WorkerService, type FetchJobsResponse } from '../../gen/edge/v1/worker_service_pb.js';
import type { RunningServer } from '../../server/app.js';
import { VERSION } from '../../shared/version.js';
import { TEST_ADMIN_TOKEN, TEST_REGISTRATION_SECRET } from '../helpers/credentials.js';
import { DATABASES, createMariaDbDatabase, type TestDatabase } from '../helpers/databases.js';
import { RawGrpc, conformanceServer, grpcFailure, type OpenStream } from './clients.js';

const J = JobService.method;
const W = WorkerService.method;

for (const { name: dbName, create: createDb } of DATABASES) {
  describe(`conformance: the worker protocol from proto/ alone (raw gRPC, ${dbName})`, function () {
    let db: TestDatabase;
    let server: RunningServer;
    let rpc: RawGrpc;

    before(async () => {
      db = await createDb();
      // A long assign timeout and worker timeout: these tests drive every report themselves.
      ({ server } = await conformanceServer(db, { assignTimeoutSeconds: 600, workerTimeoutSeconds: 600, heartbeatIntervalSeconds: 10 }));
      rpc = new RawGrpc(server.port);
    });

    after(async () => {
      rpc.close();
      await server.close();
      await db.drop();
    });

    const register = async (name: string, queue: string, concurrency = 4) =>
      (await rpc.unary(WorkerService, W.registerWorker, { name, queues: [queue], concurrency, version: VERSION }, TEST_REGISTRATION_SECRET));
    const open = async (token: string) => {
      const stream = rpc.serverStream(WorkerService, W.fetchJobs, {}, token);
      await stream.until('the first message', (s) => s.messages.length > 0);
      return stream;
    };
    const assignments = (s: OpenStream<FetchJobsResponse>) =>
      s.messages.flatMap((m) => (m.event.case === 'assignment' ? [m.event.value] : []));
    const submit = async (queue: string) => (await rpc.unary(JobService, J.submitJob, { spec: { argv: ['true'], queue } }, TEST_ADMIN_TOKEN)).job!;
    const getJob = async (id: string) => (await rpc.unary(JobService, J.getJob, { id }, TEST_ADMIN_TOKEN)).job!;
    const getWorker = async (name: string) => (await rpc.unary(WorkerService, W.getWorker, { name }, TEST_ADMIN_TOKEN)).worker!;

    it('tells its version before registering, to any credential', async () => {
      const v = await rpc.unary(WorkerService, W.getServerVersion, {}, TEST_REGISTRATION_SECRET);
      assert.equal(v.version, VERSION);
      assert.equal(v.accepts, VERSION.split('.').slice(0, 2).join('.') + '.x');
      assert.equal((await rpc.unary(WorkerService, W.getServerVersion, {}, TEST_ADMIN_TOKEN)).version, VERSION);
      assert.equal((await grpcFailure(rpc.unary(WorkerService, W.getServerVersion, {}))).code, grpc.status.UNAUTHENTICATED);
      const old = await grpcFailure(rpc.unary(WorkerService, W.registerWorker, { name: 'old', version: '0.0.9', concurrency: 1 }, TEST_REGISTRATION_SECRET));
      assert.equal(old.code, grpc.status.FAILED_PRECONDITION);
      assert.match(old.details, new RegExp(`0\\.0\\.9 is not compatible with server version ${VERSION.replace(/\./g, '\\.')}`));
    });

    it('registers a new worker STARTING; its first heartbeat makes it what it reports; the stream opens with a keepalive', async () => {
      const reg = await register(`fresh-${dbName}`, 'fresh');
      assert.equal(reg.worker!.state, WorkerState.STARTING);
      const stream = await open(reg.workerToken);
      try {
        assert.equal(stream.messages[0]!.event.case, 'keepalive');
        assert.ok(Number((stream.messages[0]!.event.value as { serverTimeUnixMs: bigint }).serverTimeUnixMs) > 0);
        // No worker_name: the token names the worker.
        const hb = await rpc.unary(WorkerService, W.heartbeat, { state: WorkerState.IDLE }, reg.workerToken);
        assert.equal(hb.worker!.state, WorkerState.IDLE);
        assert.equal(hb.worker!.name, `fresh-${dbName}`);
        // Another worker's name with this token is refused.
        const other = await grpcFailure(rpc.unary(WorkerService, W.heartbeat, { workerName: 'someone-else', state: WorkerState.IDLE }, reg.workerToken));
        assert.equal(other.code, grpc.status.PERMISSION_DENIED);
      } finally {
        stream.cancel();
      }
    });

    it('ends a replaced FetchJobs stream with ABORTED, saying why', async () => {
      const reg = await register(`twice-${dbName}`, 'twice');
      const first = await open(reg.workerToken);
      const second = await open(reg.workerToken);
      try {
        await first.until('the first stream to end', (s) => s.ended !== undefined);
        assert.equal(first.ended!.code, grpc.status.ABORTED);
        assert.match(first.ended!.details, /a newer FetchJobs stream of worker twice-\w+ replaced this one/);
        assert.equal(second.ended, undefined);
      } finally {
        second.cancel();
      }
    });

    it('squares a heartbeat with the jobs the worker holds, and makes an OFFLINE worker register again', async () => {
      const name = `beat-${dbName}`;
      const reg = await register(name, `q-${name}`);
      const stream = await open(reg.workerToken);
      const job = await submit(`q-${name}`);
      await stream.until('the assignment', (s) => assignments(s).length === 1);
      const said = await rpc.unary(WorkerService, W.heartbeat, { state: WorkerState.IDLE, jobs: [{ jobId: job.id, attempt: 1 }] }, reg.workerToken);
      assert.equal(said.worker!.state, WorkerState.RUNNING);
      await rpc.unary(WorkerService, W.updateJobState, { jobId: job.id, attempt: 1, state: JobState.RUNNING }, reg.workerToken);
      await rpc.unary(WorkerService, W.updateJobState, { jobId: job.id, attempt: 1, state: JobState.SUCCEEDED, exitCode: 0 }, reg.workerToken);
      const idle = await rpc.unary(WorkerService, W.heartbeat, { state: WorkerState.RUNNING }, reg.workerToken);
      assert.equal(idle.worker!.state, WorkerState.IDLE);
      // Goodbye: the stream ends at once, later heartbeats and streams are refused until it registers.
      const bye = await rpc.unary(WorkerService, W.heartbeat, { state: WorkerState.OFFLINE }, reg.workerToken);
      assert.equal(bye.worker!.state, WorkerState.OFFLINE);
      await stream.until('the stream to end', (s) => s.ended !== undefined);
      assert.equal(stream.ended!.code, grpc.status.FAILED_PRECONDITION);
      assert.match(stream.ended!.details, /reported OFFLINE; call RegisterWorker to come back/);
      const revive = await grpcFailure(rpc.unary(WorkerService, W.heartbeat, { state: WorkerState.IDLE }, reg.workerToken));
      assert.equal(revive.code, grpc.status.FAILED_PRECONDITION);
      assert.equal((await getWorker(name)).state, WorkerState.OFFLINE);
      const noStream = rpc.serverStream(WorkerService, W.fetchJobs, {}, reg.workerToken);
      await noStream.until('the refusal', (s) => s.ended !== undefined);
      assert.equal(noStream.ended!.code, grpc.status.FAILED_PRECONDITION);
      // Registering again brings it back.
      await rpc.unary(WorkerService, W.registerWorker, { name, queues: [`q-${name}`], concurrency: 4, version: VERSION }, reg.workerToken);
      assert.equal((await rpc.unary(WorkerService, W.heartbeat, { state: WorkerState.IDLE }, reg.workerToken)).worker!.state, WorkerState.IDLE);
    });

    it('ends the jobs a worker still holds when it says goodbye: nothing runs on an OFFLINE worker', async () => {
      const name = `gone-${dbName}`;
      const reg = await register(name, `q-${name}`);
      const stream = await open(reg.workerToken);
      const running = await submit(`q-${name}`);
      await stream.until('the assignment', (s) => assignments(s).length === 1);
      await rpc.unary(WorkerService, W.updateJobState, { jobId: running.id, attempt: 1, state: JobState.RUNNING }, reg.workerToken);
      const canceled = await submit(`q-${name}`);
      await stream.until('the second assignment', (s) => assignments(s).length === 2);
      await rpc.unary(JobService, J.cancelJob, { id: canceled.id }, TEST_ADMIN_TOKEN);
      const bye = await rpc.unary(WorkerService, W.heartbeat, { state: WorkerState.OFFLINE }, reg.workerToken);
      assert.equal(bye.worker!.state, WorkerState.OFFLINE);
      assert.deepEqual(bye.worker!.jobIds, []);
      const ended = await getJob(running.id);
      assert.equal(ended.state, JobState.FAILED);
      assert.equal(ended.reason, 'worker went OFFLINE while holding it');
      const never = await getJob(canceled.id);
      assert.equal(never.state, JobState.CANCELED);
      const late = await grpcFailure(rpc.unary(WorkerService, W.updateJobState, { jobId: running.id, attempt: 1, state: JobState.SUCCEEDED, exitCode: 0 }, reg.workerToken));
      assert.equal(late.code, grpc.status.FAILED_PRECONDITION);
    });

    it('refuses every illegal report, with the right code, and changes nothing', async () => {
      const name = `strict-${dbName}`;
      const reg = await register(name, `q-${name}`);
      const stream = await open(reg.workerToken);
      try {
        const job = await submit(`q-${name}`);
        await stream.until('the assignment', (s) => assignments(s).length === 1);
        const report = (state: JobState, extra: { exitCode?: number; signal?: string; attempt?: number; jobId?: string } = {}) =>
          grpcFailure(rpc.unary(WorkerService, W.updateJobState, { jobId: job.id, attempt: 1, state, ...extra }, reg.workerToken));
        const invalid: [string, Promise<{ code: grpc.status; details: string }>, RegExp][] = [
          ['SUCCEEDED with exit code 7', report(JobState.SUCCEEDED, { exitCode: 7 }), /exit_code must be 0 for SUCCEEDED, not 7/],
          ['SUCCEEDED with no exit code', report(JobState.SUCCEEDED), /exit_code must be 0 for SUCCEEDED/],
          ['an exit code and a signal', report(JobState.FAILED, { exitCode: 1, signal: 'SIGKILL' }), /exit_code and signal exclude each other/],
          ['FAILED with exit code 0', report(JobState.FAILED, { exitCode: 0 }), /exit_code 0 is SUCCEEDED/],
          ['RUNNING with an exit code', report(JobState.RUNNING, { exitCode: 0 }), /carries no exit_code or signal/],
          ['ASSIGNED', report(JobState.ASSIGNED), /state must be one of/],
          ['no state', report(JobState.UNSPECIFIED), /state must be one of/],
        ];
        for (const [what, p, message] of invalid) {
          const f = await p;
          assert.equal(f.code, grpc.status.INVALID_ARGUMENT, what);
          assert.match(f.details, message, what);
        }
        const precondition: [string, Promise<{ code: grpc.status; details: string }>, RegExp][] = [
          ['ASSIGNED -> SUCCEEDED', report(JobState.SUCCEEDED, { exitCode: 0 }), /ASSIGNED cannot be reported SUCCEEDED: it must be RUNNING first/],
          ['ASSIGNED -> CANCELED unasked', report(JobState.CANCELED), /nobody asked to cancel it/],
          ['ASSIGNED -> FAILED with an exit code', report(JobState.FAILED, { exitCode: 2 }), /never ran/],
          ['another attempt', report(JobState.RUNNING, { attempt: 2 }), /attempt 2 of job .* is not held/],
        ];
        for (const [what, p, message] of precondition) {
          const f = await p;
          assert.equal(f.code, grpc.status.FAILED_PRECONDITION, what);
          assert.match(f.details, message, what);
        }
        assert.equal((await getJob(job.id)).state, JobState.ASSIGNED);
        await rpc.unary(WorkerService, W.updateJobState, { jobId: job.id, attempt: 1, state: JobState.RUNNING }, reg.workerToken);
        const back = await report(JobState.QUEUED);
        assert.equal(back.code, grpc.status.FAILED_PRECONDITION);
        assert.match(back.details, /a job that started cannot be handed back/);
        const unasked = await report(JobState.CANCELED, { signal: 'SIGTERM' });
        assert.equal(unasked.code, grpc.status.FAILED_PRECONDITION);
        await rpc.unary(WorkerService, W.updateJobState, { jobId: job.id, attempt: 1, state: JobState.FAILED, exitCode: 7 }, reg.workerToken);
        // Re-sent: the same outcome is accepted again and changes nothing; another one is refused.
        await rpc.unary(WorkerService, W.updateJobState, { jobId: job.id, attempt: 1, state: JobState.FAILED, exitCode: 7 }, reg.workerToken);
        const after = await report(JobState.SUCCEEDED, { exitCode: 0 });
        assert.equal(after.code, grpc.status.FAILED_PRECONDITION);
        assert.match(after.details, /terminal states never change/);
        const ended = await getJob(job.id);
        assert.equal(ended.state, JobState.FAILED);
        assert.equal(ended.exitCode, 7);
        // Somebody else's job.
        const other = await register(`other-${dbName}`, `q-other-${dbName}`);
        const foreign = await grpcFailure(rpc.unary(WorkerService, W.updateJobState, { jobId: job.id, attempt: 1, state: JobState.RUNNING }, other.workerToken));
        assert.equal(foreign.code, grpc.status.PERMISSION_DENIED);
      } finally {
        stream.cancel();
      }
    });

    it('ends a handed-back attempt on record; the job comes back as a new attempt', async () => {
      const name = `hand-${dbName}`;
      const reg = await register(name, `q-${name}`, 1);
      const stream = await open(reg.workerToken);
      try {
        const job = await submit(`q-${name}`);
        await stream.until('the assignment', (s) => assignments(s).length === 1);
        assert.equal(assignments(stream)[0]!.attempt, 1);
        const back = (await rpc.unary(WorkerService, W.updateJobState, { jobId: job.id, attempt: 1, state: JobState.QUEUED }, reg.workerToken)).job!;
        assert.equal(back.state, JobState.QUEUED);
        await stream.until('the job again', (s) => assignments(s).length === 2);
        assert.equal(assignments(stream)[1]!.attempt, 2);
        const attempts = (await rpc.unary(JobService, J.listJobAttempts, { jobId: job.id }, TEST_ADMIN_TOKEN)).attempts;
        assert.deepEqual(attempts.map((a) => [a.attempt, a.state, a.reason]), [
          [1, JobState.QUEUED, `handed back by worker ${name}`],
          [2, JobState.ASSIGNED, ''],
        ]);
        assert.ok(attempts[0]!.endTime);
        // Fencing tells the two apart: a report about the handed-back attempt is refused.
        const stale = await grpcFailure(rpc.unary(WorkerService, W.updateJobState, { jobId: job.id, attempt: 1, state: JobState.RUNNING }, reg.workerToken));
        assert.equal(stale.code, grpc.status.FAILED_PRECONDITION);
        await rpc.unary(WorkerService, W.updateJobState, { jobId: job.id, attempt: 2, state: JobState.RUNNING }, reg.workerToken);
        const done = (await rpc.unary(WorkerService, W.updateJobState, { jobId: job.id, attempt: 2, state: JobState.SUCCEEDED, exitCode: 0 }, reg.workerToken)).job!;
        assert.equal(done.state, JobState.SUCCEEDED);
        assert.equal(done.attempt, 2);
      } finally {
        stream.cancel();
      }
    });
  });
}

describe('conformance: a goodbye through one replica ends the stream held by another (raw gRPC, MariaDB)', function () {
  it('ends the FetchJobs stream on replica A when the worker reports OFFLINE through replica B', async () => {
    const db = await createMariaDbDatabase();
    const a = await conformanceServer(db, { eventPollMs: 50 });
    const b = await conformanceServer(db, { eventPollMs: 50 });
    const rpcA = new RawGrpc(a.server.port);
    const rpcB = new RawGrpc(b.server.port);
    try {
      const reg = await rpcA.unary(WorkerService, W.registerWorker, { name: 'roamer', queues: ['roam'], concurrency: 1, version: VERSION }, TEST_REGISTRATION_SECRET);
      const stream = rpcA.serverStream(WorkerService, W.fetchJobs, {}, reg.workerToken);
      await stream.until('the first message', (s) => s.messages.length > 0);
      await rpcB.unary(WorkerService, W.heartbeat, { state: WorkerState.OFFLINE }, reg.workerToken);
      await stream.until('the stream on A to end', (s) => s.ended !== undefined, 5000);
      assert.equal(stream.ended!.code, grpc.status.FAILED_PRECONDITION);
      assert.match(stream.ended!.details, /reported OFFLINE/);
    } finally {
      rpcA.close();
      rpcB.close();
      await a.server.close();
      await b.server.close();
      await db.drop();
    }
  });
});
