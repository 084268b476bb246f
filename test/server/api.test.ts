import assert from 'node:assert/strict';
import { create, fromBinary, toBinary } from '@bufbuild/protobuf';
import { Code, createClient } from '@connectrpc/connect';
import { Http2SessionManager, createConnectTransport, createGrpcTransport, createGrpcWebTransport } from '@connectrpc/connect-node';
import * as grpc from '@grpc/grpc-js';
import { JobService, SubmitJobRequestSchema, SubmitJobResponseSchema } from '../../gen/edge/v1/job_service_pb.js';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { LogService } from '../../gen/edge/v1/log_service_pb.js';
import { WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import type { RunningServer } from '../../server/app.js';
import { startTestServer } from '../helpers/test-server.js';
import { createSqliteDatabase, type TestDatabase } from '../helpers/databases.js';
import { TEST_ADMIN_TOKEN, TEST_REGISTRATION_SECRET, asAdmin, bearer } from '../helpers/credentials.js';
import { codeOf } from '../helpers/rpc-errors.js';

const UNKNOWN_ID = '01900000-0000-7000-8000-000000000000';


describe('API server (one port, three protocols)', function () {
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

  const transports = () => ({
    gRPC: createGrpcTransport({ baseUrl: server.url, sessionManager: sessions, interceptors: [asAdmin] }),
    Connect: createConnectTransport({ baseUrl: server.url, httpVersion: '1.1', interceptors: [asAdmin] }),
    'gRPC-Web': createGrpcWebTransport({ baseUrl: server.url, httpVersion: '1.1', interceptors: [asAdmin] }),
  });

  for (const protocol of ['gRPC', 'Connect', 'gRPC-Web'] as const) {
    it(`submits and reads a job over ${protocol}`, async () => {
      const jobs = createClient(JobService, transports()[protocol]);
      const { job } = await jobs.submitJob({ spec: { argv: ['echo', protocol] } });
      assert.equal(job!.state, JobState.QUEUED);
      assert.equal(job!.spec!.queue, 'default');
      assert.equal(job!.spec!.slots, 1);
      const got = await jobs.getJob({ id: job!.id });
      assert.deepEqual(got.job!.spec!.argv, ['echo', protocol]);
    });
  }

  it('answers a plain @grpc/grpc-js client', async () => {
    const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
    try {
      const req = create(SubmitJobRequestSchema, { spec: { argv: ['true'], queue: 'grpc-js' } });
      const res = await new Promise<Uint8Array>((resolve, reject) =>
        client.makeUnaryRequest(
          '/edge.v1.JobService/SubmitJob',
          (m: Uint8Array) => Buffer.from(m),
          (b: Buffer) => b,
          toBinary(SubmitJobRequestSchema, req),
          metadataWith(TEST_ADMIN_TOKEN),
          (err, value) => (err ? reject(err) : resolve(value!)),
        ),
      );
      const job = fromBinary(SubmitJobResponseSchema, res).job!;
      assert.equal(job.spec!.queue, 'grpc-js');
      assert.match(job.id, /^[0-9a-f-]{36}$/);
    } finally {
      client.close();
    }
  });

  describe('bad input', () => {
    const clients = () => {
      const t = transports().gRPC;
      // Workers' calls go with the registration secret, as a new worker's do.
      const w = createGrpcTransport({ baseUrl: server.url, sessionManager: sessions, interceptors: [bearer(TEST_REGISTRATION_SECRET)] });
      return { jobs: createClient(JobService, t), workers: createClient(WorkerService, w), logs: createClient(LogService, t) };
    };

    it('refuses an empty argv with InvalidArgument naming the field', async () => {
      const e = await codeOf(clients().jobs.submitJob({ spec: { argv: [] } }));
      assert.equal(e.code, Code.InvalidArgument);
      assert.match(e.message, /spec\.argv is empty/);
      const e2 = await codeOf(clients().jobs.submitJob({}));
      assert.equal(e2.code, Code.InvalidArgument);
      assert.match(e2.message, /spec is required/);
    });

    it('refuses a queue name of 300 characters, naming the queue and the limit', async () => {
      const queue = 'q'.repeat(300);
      const e = await codeOf(clients().jobs.submitJob({ spec: { argv: ['true'], queue } }));
      assert.equal(e.code, Code.InvalidArgument);
      assert.match(e.message, /spec\.queue: queue name "q{40}…" is 300 characters long; the limit is 256/);
      const bad = await codeOf(clients().jobs.submitJob({ spec: { argv: ['true'], queue: 'a b' } }));
      assert.match(bad.message, /queue name "a b" may only hold/);
      const w = await codeOf(clients().workers.registerWorker({ name: 'w', queues: [queue], concurrency: 1, version: '0.1.0' }));
      assert.equal(w.code, Code.InvalidArgument);
      assert.match(w.message, /queues\[0\]/);
    });

    it('answers NotFound for an unknown job id, and InvalidArgument for a malformed one', async () => {
      const { jobs, logs } = clients();
      for (const call of [jobs.getJob({ id: UNKNOWN_ID }), jobs.cancelJob({ id: UNKNOWN_ID }), logs.readLogs({ jobId: UNKNOWN_ID })]) {
        const e = await codeOf(call);
        assert.equal(e.code, Code.NotFound);
        assert.match(e.message, new RegExp(`job ${UNKNOWN_ID} not found`));
      }
      const e = await codeOf(jobs.getJob({ id: 'nope' }));
      assert.equal(e.code, Code.InvalidArgument);
      assert.match(e.message, /id "nope" is not a job id/);
    });

    it('checks ranges, enum values and page tokens', async () => {
      const { jobs, workers } = clients();
      assert.match((await codeOf(jobs.submitJob({ spec: { argv: ['true'], slots: -1 } }))).message, /spec\.slots must be between 1 and 1024/);
      assert.match((await codeOf(jobs.submitJob({ spec: { argv: ['true'], env: { 'A=B': 'x' } } }))).message, /spec\.env key "A=B" must not contain "="/);
      assert.match((await codeOf(jobs.listJobs({ pageSize: 5000 }))).message, /page_size must be between 1 and 1000/);
      assert.match((await codeOf(jobs.listJobs({ states: [JobState.UNSPECIFIED] }))).message, /states\[0\] is not a job state/);
      assert.match((await codeOf(jobs.listJobs({ pageToken: 'garbage' }))).message, /page_token/);
      assert.match((await codeOf(workers.registerWorker({ name: 'w', concurrency: 0, version: '0.1.0' }))).message, /concurrency must be between 1 and 1024/);
      // A registration secret may only register: a heartbeat with it is refused before anything else.
      assert.equal((await codeOf(workers.heartbeat({ workerName: 'ghost', state: 2 }))).code, Code.PermissionDenied);
    });

    it('refuses a page token replayed with other filters', async () => {
      const { jobs } = clients();
      for (let i = 0; i < 3; i++) await jobs.submitJob({ spec: { argv: ['true'], queue: 'paging' } });
      const first = await jobs.listJobs({ queue: 'paging', pageSize: 2 });
      assert.equal(first.jobs.length, 2);
      assert.ok(first.nextPageToken);
      const second = await jobs.listJobs({ queue: 'paging', pageSize: 2, pageToken: first.nextPageToken });
      assert.equal(second.jobs.length, 1);
      assert.equal(second.nextPageToken, '');
      const e = await codeOf(jobs.listJobs({ queue: 'other', pageToken: first.nextPageToken }));
      assert.equal(e.code, Code.InvalidArgument);
      assert.match(e.message, /different filters/);
    });
  });
});

function metadataWith(token: string): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
}
