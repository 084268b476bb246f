import assert from 'node:assert/strict';
import * as grpc from '@grpc/grpc-js';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import { LogService } from '../../gen/edge/v1/log_service_pb.js';
import { WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import type { RunningServer } from '../../server/app.js';
import { VERSION } from '../../shared/version.js';
import { TEST_ADMIN_TOKEN, TEST_REGISTRATION_SECRET } from '../helpers/credentials.js';
import { DATABASES, type TestDatabase } from '../helpers/databases.js';
import { RawGrpc, conformanceServer, connectJson, connectJsonStream, grpcFailure } from './clients.js';

const J = JobService.method;
const W = WorkerService.method;
const L = LogService.method;

for (const { name: dbName, create: createDb } of DATABASES) {
  describe(`conformance: the server checks what it is told (Connect JSON and raw gRPC, ${dbName})`, function () {
    let db: TestDatabase;
    let server: RunningServer;
    let rpc: RawGrpc;

    before(async () => {
      db = await createDb();
      ({ server } = await conformanceServer(db, { assignTimeoutSeconds: 600, workerTimeoutSeconds: 600, heartbeatIntervalSeconds: 10 }));
      rpc = new RawGrpc(server.port);
    });

    after(async () => {
      rpc.close();
      await server.close();
      await db.drop();
    });

    const json = (method: string, body: unknown, token: string = TEST_ADMIN_TOKEN) => connectJson(server.url, method, body, token);

    it('refuses unknown JSON fields and unknown enum names with invalid_argument, naming them', async () => {
      await json('edge.v1.JobService/SubmitJob', { spec: { argv: ['true'], queue: 'kept' } });
      const cases: [unknown, RegExp][] = [
        [{ states: ['CANCELLED'] }, /CANCELLED/],
        [{ states: ['QUEUED'] }, /QUEUED/],
        [{ states: ['JOB_STATE_QUEUED'], queu: 'x' }, /queu/],
      ];
      for (const [body, names] of cases) {
        const r = await json('edge.v1.JobService/ListJobs', body);
        assert.equal(r.status, 400, JSON.stringify(body));
        assert.equal(r.json.code, 'invalid_argument', JSON.stringify(body));
        assert.match(String(r.json.message), names);
      }
      const typo = await json('edge.v1.JobService/SubmitJob', { spec: { argv: ['true'] }, queu: 'x' });
      assert.equal(typo.status, 400);
      assert.equal(typo.json.code, 'invalid_argument');
      const nested = await json('edge.v1.JobService/SubmitJob', { spec: { argv: ['true'], queu: 'x' } });
      assert.equal(nested.json.code, 'invalid_argument');
      // Nothing was submitted by the refused calls; the correct spelling works.
      const listed = await json('edge.v1.JobService/ListJobs', { states: ['JOB_STATE_QUEUED'] });
      assert.equal(listed.status, 200);
      assert.deepEqual((listed.json.jobs as { spec: { queue: string } }[]).map((j) => j.spec.queue), ['kept']);
    });

    it('answers an unknown method with UNIMPLEMENTED over gRPC, gRPC-Web and Connect', async () => {
      const grpcCall = await grpcFailure(
        new Promise((resolve, reject) =>
          rpc.client.makeUnaryRequest('/edge.v1.JobService/NoSuchMethod', (m: Uint8Array) => Buffer.from(m), (b: Buffer) => b, new Uint8Array(), new grpc.Metadata(), (err, v) => (err ? reject(err) : resolve(v))),
        ),
      );
      assert.equal(grpcCall.code, grpc.status.UNIMPLEMENTED);
      assert.match(grpcCall.details, /method \/edge\.v1\.JobService\/NoSuchMethod is not served here/);
      const otherService = await grpcFailure(
        new Promise((resolve, reject) =>
          rpc.client.makeUnaryRequest('/acme.v1.Nothing/Here', (m: Uint8Array) => Buffer.from(m), (b: Buffer) => b, new Uint8Array(), new grpc.Metadata(), (err, v) => (err ? reject(err) : resolve(v))),
        ),
      );
      assert.equal(otherService.code, grpc.status.UNIMPLEMENTED);
      const web = await fetch(`${server.url}/edge.v1.JobService/NoSuchMethod`, {
        method: 'POST',
        headers: { 'content-type': 'application/grpc-web+proto', 'x-grpc-web': '1' },
        body: new Uint8Array(5),
      });
      assert.equal(web.status, 200);
      assert.equal(web.headers.get('grpc-status'), '12');
      const connect = await json('edge.v1.JobService/NoSuchMethod', {});
      assert.equal(connect.status, 404);
      assert.equal(connect.json.code, 'unimplemented');
      // Plain HTTP still gets a page.
      const page = await fetch(`${server.url}/nothing-here`);
      assert.equal(page.status, 404);
      assert.match(page.headers.get('content-type') ?? '', /text\/plain/);
    });

    it('refuses a watch cursor past the newest change, over both protocols', async () => {
      // A server stream over Connect JSON: the error comes in the end-of-stream frame.
      const r = await connectJsonStream(server.url, 'edge.v1.JobService/WatchJobs', { cursor: '99999999' }, TEST_ADMIN_TOKEN);
      assert.deepEqual(r.messages, []);
      assert.equal((r.end.error as { code: string }).code, 'invalid_argument');
      assert.match((r.end.error as { message: string }).message, /cursor 99999999 is past the newest change/);
      const watch = rpc.serverStream(JobService, J.watchJobs, { cursor: '99999999' }, TEST_ADMIN_TOKEN);
      await watch.until('the refusal', (s) => s.ended !== undefined);
      assert.equal(watch.ended!.code, grpc.status.INVALID_ARGUMENT);
      assert.match(watch.ended!.details, /cursor 99999999 is past the newest change/);
      assert.equal(watch.messages.length, 0);
      const ok = rpc.serverStream(JobService, J.watchJobs, { cursor: '0' }, TEST_ADMIN_TOKEN);
      await ok.until('the first message', (s) => s.messages.length > 0);
      ok.cancel();
    });

    it('returns next_offset at least the offset asked when reading past the end of a log', async () => {
      const job = (await rpc.unary(JobService, J.submitJob, { spec: { argv: ['true'], queue: `logs-${dbName}` } }, TEST_ADMIN_TOKEN)).job!;
      const reg = await rpc.unary(WorkerService, W.registerWorker, { name: `logs-${dbName}`, queues: [`logs-${dbName}`], concurrency: 1, version: VERSION }, TEST_REGISTRATION_SECRET);
      const stream = rpc.serverStream(WorkerService, W.fetchJobs, {}, reg.workerToken);
      try {
        await stream.until('the assignment', (s) => s.messages.some((m) => m.event.case === 'assignment'));
        await rpc.clientStream(LogService, L.uploadLogs, [{ jobId: job.id, attempt: 1, offset: 0n, data: Buffer.from('hello') }], reg.workerToken);
        const past = await rpc.unary(LogService, L.readLogs, { jobId: job.id, offset: 100n }, TEST_ADMIN_TOKEN);
        assert.equal(past.data.length, 0);
        assert.equal(past.size, 5n);
        assert.equal(past.nextOffset, 100n);
        const mid = await rpc.unary(LogService, L.readLogs, { jobId: job.id, offset: 2n }, TEST_ADMIN_TOKEN);
        assert.equal(Buffer.from(mid.data).toString(), 'llo');
        assert.equal(mid.nextOffset, 5n);

        // A re-sent chunk with the same bytes is fine; different bytes at a stored offset are refused.
        const same = await rpc.clientStream(LogService, L.uploadLogs, [{ jobId: job.id, attempt: 1, offset: 0n, data: Buffer.from('hello world') }], reg.workerToken);
        assert.equal(same.sizes[0]!.size, 11n);
        const differs = await grpcFailure(rpc.clientStream(LogService, L.uploadLogs, [{ jobId: job.id, attempt: 1, offset: 6n, data: Buffer.from('WORLD') }], reg.workerToken));
        assert.equal(differs.code, grpc.status.FAILED_PRECONDITION);
        assert.match(differs.details, /differs from the bytes already stored there/);
        const log = await rpc.unary(LogService, L.readLogs, { jobId: job.id }, TEST_ADMIN_TOKEN);
        assert.equal(Buffer.from(log.data).toString(), 'hello world');
      } finally {
        stream.cancel();
      }
    });

    it('names the credential in a refusal in plain words', async () => {
      const admin = await grpcFailure(rpc.unary(WorkerService, W.registerWorker, { name: 'x', version: VERSION, concurrency: 1 }, TEST_ADMIN_TOKEN));
      assert.equal(admin.code, grpc.status.PERMISSION_DENIED);
      assert.equal(admin.details, 'an admin token may not call RegisterWorker');
      const secret = await grpcFailure(rpc.unary(JobService, J.listJobs, {}, TEST_REGISTRATION_SECRET));
      assert.equal(secret.details, 'a registration secret may not call ListJobs');
    });
  });
}
