import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { WorkerService, type FetchJobsResponse } from '../../gen/edge/v1/worker_service_pb.js';
import type { RunningServer } from '../../server/app.js';
import { TEST_ADMIN_TOKEN, TEST_REGISTRATION_SECRET } from '../helpers/credentials.js';
import { DATABASES, type TestDatabase } from '../helpers/databases.js';
import { waitFor } from '../helpers/wait.js';
import { RawGrpc, conformanceServer, grpcFailure, type OpenStream } from './clients.js';

const J = JobService.method;
const W = WorkerService.method;

for (const { name: dbName, create: createDb } of DATABASES) {
  describe(`conformance: a cancel is never lost (raw gRPC, ${dbName})`, function () {
    let db: TestDatabase;
    let server: RunningServer;
    let rpc: RawGrpc;

    before(async () => {
      db = await createDb();
      ({ server } = await conformanceServer(db));
      rpc = new RawGrpc(server.port);
    });

    after(async () => {
      rpc.close();
      await server.close();
      await db.drop();
    });

    /** A worker that registers and holds its stream, and answers nothing unless the test says so. */
    async function muteWorker(name: string, queue: string) {
      const reg = await rpc.unary(WorkerService, W.registerWorker, { name, queues: [queue], concurrency: 4, version: '0.1.0' }, TEST_REGISTRATION_SECRET);
      const token = reg.workerToken;
      const stream = rpc.serverStream(WorkerService, W.fetchJobs, {}, token);
      await stream.until('the first message', (s) => s.messages.length > 0);
      return { token, stream };
    }

    const assignments = (s: OpenStream<FetchJobsResponse>) => s.messages.filter((m) => m.event.case === 'assignment');
    const cancellations = (s: OpenStream<FetchJobsResponse>, jobId: string) =>
      s.messages.filter((m) => m.event.case === 'cancellation' && m.event.value.jobId === jobId);
    const submit = async (queue: string) => (await rpc.unary(JobService, J.submitJob, { spec: { argv: ['true'], queue } }, TEST_ADMIN_TOKEN)).job!;
    const getJob = async (id: string) => (await rpc.unary(JobService, J.getJob, { id }, TEST_ADMIN_TOKEN)).job!;
    /** Every state the job passed through, from the change log. */
    async function history(cursor: string, jobId: string): Promise<JobState[]> {
      const watch = rpc.serverStream(JobService, J.watchJobs, { cursor, jobIds: [jobId] }, TEST_ADMIN_TOKEN);
      await new Promise((r) => setTimeout(r, 300));
      watch.cancel();
      return watch.messages.flatMap((m) => m.events.map((e) => e.state));
    }
    const nowCursor = async () => {
      const watch = rpc.serverStream(JobService, J.watchJobs, {}, TEST_ADMIN_TOKEN);
      await watch.until('the first message', (s) => s.messages.length > 0);
      watch.cancel();
      return watch.messages[0]!.cursor;
    };

    it('cancels an ASSIGNED job whose worker never answers: told once, CANCELED at the assign timeout, never queued again', async () => {
      const queue = `mute-${dbName}`;
      const w = await muteWorker(`mute-${dbName}`, queue);
      // The worker is alive (it heartbeats) but never starts or answers its job.
      const beat = setInterval(() => void rpc.unary(WorkerService, W.heartbeat, { state: WorkerState.IDLE }, w.token).catch(() => undefined), 300);
      try {
        const cursor = await nowCursor();
        const job = await submit(queue);
        await w.stream.until('the assignment', (s) => assignments(s).length === 1);
        const canceled = (await rpc.unary(JobService, J.cancelJob, { id: job.id }, TEST_ADMIN_TOKEN)).job!;
        assert.equal(canceled.state, JobState.ASSIGNED);
        assert.equal(canceled.cancelRequested, true);
        await w.stream.until('the cancellation', (s) => cancellations(s, job.id).length > 0);
        const ended = await waitFor('the job to end CANCELED', async () => {
          const j = await getJob(job.id);
          return j.state === JobState.CANCELED && j;
        }, 10_000);
        assert.equal(ended.reason, 'canceled by user before it started');
        // The cancel was pushed exactly once.
        assert.equal(cancellations(w.stream, job.id).length, 1);
        assert.deepEqual(await history(cursor, job.id), [JobState.QUEUED, JobState.ASSIGNED, JobState.CANCELED]);
        // A late start is refused: the job never runs.
        const late = await grpcFailure(rpc.unary(WorkerService, W.updateJobState, { jobId: job.id, attempt: 1, state: JobState.RUNNING }, w.token));
        assert.equal(late.code, grpc.status.FAILED_PRECONDITION);
        // A worker that comes later gets nothing.
        const other = await muteWorker(`later-${dbName}`, queue);
        await new Promise((r) => setTimeout(r, 1500));
        assert.equal(assignments(other.stream).length, 0);
        assert.equal(assignments(w.stream).length, 1);
        other.stream.cancel();
      } finally {
        clearInterval(beat);
        w.stream.cancel();
      }
    });

    it('lets a cancel stored before the start win: the RUNNING report is refused and the job ends CANCELED', async () => {
      const queue = `race-${dbName}`;
      const w = await muteWorker(`race-${dbName}`, queue);
      try {
        const job = await submit(queue);
        await w.stream.until('the assignment', (s) => assignments(s).length === 1);
        await rpc.unary(JobService, J.cancelJob, { id: job.id }, TEST_ADMIN_TOKEN);
        const refused = await grpcFailure(rpc.unary(WorkerService, W.updateJobState, { jobId: job.id, attempt: 1, state: JobState.RUNNING }, w.token));
        assert.equal(refused.code, grpc.status.FAILED_PRECONDITION);
        assert.match(refused.details, /canceled before it started; do not run it/);
        const j = await getJob(job.id);
        assert.equal(j.state, JobState.CANCELED);
        assert.equal(j.startTime, undefined);
      } finally {
        w.stream.cancel();
      }
    });

    it('cancels a RUNNING job whose worker goes silent: CANCELED once the worker is presumed lost', async () => {
      const queue = `silent-${dbName}`;
      const w = await muteWorker(`silent-${dbName}`, queue);
      try {
        const job = await submit(queue);
        await w.stream.until('the assignment', (s) => assignments(s).length === 1);
        await rpc.unary(WorkerService, W.updateJobState, { jobId: job.id, attempt: 1, state: JobState.RUNNING }, w.token);
        const c = (await rpc.unary(JobService, J.cancelJob, { id: job.id }, TEST_ADMIN_TOKEN)).job!;
        assert.equal(c.state, JobState.RUNNING);
        assert.equal(c.cancelRequested, true);
        await w.stream.until('the cancellation', (s) => cancellations(s, job.id).length === 1);
        const ended = await waitFor('the job to end CANCELED', async () => {
          const j = await getJob(job.id);
          return j.state === JobState.CANCELED && j;
        }, 15_000);
        assert.equal(ended.reason, 'canceled by user; its worker was lost');
        assert.equal(cancellations(w.stream, job.id).length, 1);
      } finally {
        w.stream.cancel();
      }
    });

    it('cancels a QUEUED job at once; no worker ever gets it', async () => {
      const queue = `nobody-${dbName}`;
      const job = await submit(queue);
      const c = (await rpc.unary(JobService, J.cancelJob, { id: job.id }, TEST_ADMIN_TOKEN)).job!;
      assert.equal(c.state, JobState.CANCELED);
      const w = await muteWorker(`nobody-${dbName}`, queue);
      try {
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(assignments(w.stream).length, 0);
        assert.equal((await getJob(job.id)).state, JobState.CANCELED);
      } finally {
        w.stream.cancel();
      }
    });
  });
}
