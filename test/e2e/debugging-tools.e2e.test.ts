import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import { createClient } from '@connectrpc/connect';
import { createGrpcTransport, Http2SessionManager } from '@connectrpc/connect-node';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { Health, HealthCheckResponse_ServingStatus } from '../../gen/grpc/health/v1/health_pb.js';
import { ServerReflection } from '../../gen/grpc/reflection/v1/reflection_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { createSqliteDatabase, type TestDatabase } from '../helpers/databases.js';
import { PROCESS_START_MS, ROOT, startServerProcess, startWorkerProcess, type ServerProc, type WorkerProc } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const BUF = path.join(ROOT, 'node_modules/.bin/buf');
/** Debian's Python, which has python3-grpcio (a pyenv python3 first on PATH may not). */
const PYTHON = '/usr/bin/python3';

describe('debugging and telemetry with standard tools: reflection, health, /metrics, a Python client', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let server: ServerProc;
  let worker: WorkerProc;
  let api: Api;

  before(async () => {
    db = await createSqliteDatabase();
    server = await startServerProcess(db.url);
    api = connectApi(server.url, TEST_ADMIN_TOKEN);
    worker = startWorkerProcess(server.url, { name: 'dbg-1', queues: 'default,q-metrics' });
    await waitFor('the worker to connect', async () => (await api.workers.getWorker({ name: 'dbg-1' }).catch(() => undefined))?.worker?.state === WorkerState.IDLE, PROCESS_START_MS);
  });

  after(async () => {
    api?.close();
    assert.equal(await worker?.stop('SIGTERM'), 0);
    assert.equal(await server?.stop('SIGTERM'), 0);
    await db?.drop();
  });

  const bufCurl = async (...args: string[]) => (await run(BUF, ['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '-H', `authorization: Bearer ${TEST_ADMIN_TOKEN}`, ...args], { cwd: ROOT })).stdout;

  it('lists our services through gRPC reflection v1 and v1alpha (buf curl, no .proto at hand)', async () => {
    for (const protocol of ['grpc-v1', 'grpc-v1alpha']) {
      const services = (await bufCurl('--reflect-protocol', protocol, '--list-services', server.url)).trim().split('\n');
      for (const s of ['edge.v1.JobService', 'edge.v1.WorkerService', 'edge.v1.LogService', 'grpc.health.v1.Health']) assert.ok(services.includes(s), `${protocol}: ${services}`);
    }
    const methods = (await bufCurl('--list-methods', server.url)).trim().split('\n');
    assert.ok(methods.includes('edge.v1.WorkerService/SetWorkerMaintenance'), methods.join(','));
  });

  it('calls a method with a schema learned by reflection alone', async () => {
    const out = await bufCurl('-d', '{"spec": {"argv": ["echo", "via reflection"], "queue": "default"}}', `${server.url}/edge.v1.JobService/SubmitJob`);
    const job = JSON.parse(out).job;
    // QUEUED, or already ASSIGNED when an idle worker took it in the submit (the fast path).
    assert.match(job.state, /^JOB_STATE_(QUEUED|ASSIGNED)$/);
    const done = await waitFor('the job to end', async () => {
      const j = (await api.jobs.getJob({ id: job.id })).job!;
      return j.state === JobState.SUCCEEDED ? j : undefined;
    });
    assert.equal(done.workerName, 'dbg-1');
  });

  it('answers file_containing_symbol with the file and its imports, and unknown symbols with NOT_FOUND', async () => {
    const sessions = new Http2SessionManager(server.url);
    try {
      const reflection = createClient(ServerReflection, createGrpcTransport({ baseUrl: server.url, sessionManager: sessions }));
      async function* ask() {
        yield { messageRequest: { case: 'fileContainingSymbol' as const, value: 'edge.v1.Worker' } };
        yield { messageRequest: { case: 'fileContainingSymbol' as const, value: 'edge.v1.Nope' } };
      }
      const answers = [];
      for await (const a of reflection.serverReflectionInfo(ask())) answers.push(a);
      assert.equal(answers[0]!.messageResponse.case, 'fileDescriptorResponse');
      const files = (answers[0]!.messageResponse.value as { fileDescriptorProto: Uint8Array[] }).fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
      assert.deepEqual(files, ['edge/v1/worker.proto', 'google/protobuf/timestamp.proto']);
      assert.equal(answers[1]!.messageResponse.case, 'errorResponse');
      assert.equal((answers[1]!.messageResponse.value as { errorCode: number }).errorCode, 5);
    } finally {
      sessions.abort();
    }
  });

  it('reports SERVING on grpc.health.v1 (buf curl and a client)', async () => {
    assert.deepEqual(JSON.parse(await bufCurl(`${server.url}/grpc.health.v1.Health/Check`)), { status: 'SERVING' });
    const sessions = new Http2SessionManager(server.url);
    try {
      const health = createClient(Health, createGrpcTransport({ baseUrl: server.url, sessionManager: sessions }));
      assert.equal((await health.check({ service: 'edge.v1.JobService' })).status, HealthCheckResponse_ServingStatus.SERVING);
      await assert.rejects(health.check({ service: 'no.Such' }), /not served here/);
    } finally {
      sessions.abort();
    }
  });

  it('counts a finished job, queues, workers, heartbeats and RPCs on /metrics', async () => {
    const { job } = await api.jobs.submitJob({ spec: { queue: 'q-metrics', argv: ['true'] } });
    await waitFor('the job to succeed', async () => (await api.jobs.getJob({ id: job!.id })).job!.state === JobState.SUCCEEDED);
    // Its labels name every team's queues: an admin token of no team only.
    const anonymous = await fetch(`${server.url}/metrics`);
    assert.equal(anonymous.status, 401);
    assert.doesNotMatch(await anonymous.text(), /q-metrics/);
    const res = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain/);
    const body = await res.text();
    assert.match(body, /^edge_jobs\{state="SUCCEEDED",queue="q-metrics"\} 1$/m);
    assert.match(body, /^edge_job_submit_to_start_seconds_count\{queue="q-metrics"\} 1$/m);
    assert.match(body, /^edge_workers\{state="IDLE"\} 1$/m);
    assert.match(body, /^edge_worker_heartbeats_total\{answered="(memory|store)"\} [1-9]\d*$/m);
    assert.match(body, /^edge_rpc_requests_total\{service="edge.v1.JobService",method="SubmitJob",code="OK"\} [1-9]/m);
    assert.match(body, /^# TYPE edge_queue_depth gauge$/m);
    assert.match(body, /^# TYPE edge_queue_oldest_age_seconds gauge$/m);
    const missing = await fetch(`${server.url}/nope`);
    assert.equal(missing.status, 404);
  });

  it('runs the Python example: generated from proto/, submits a job, follows it, prints its log', async () => {
    const example = path.join(ROOT, 'examples/python/edge_client.py');
    let out;
    try {
      out = await run(PYTHON, [example, '--api', server.url.replace('http://', ''), '--', 'sh', '-c', 'echo hello from python; exit 0'], { cwd: ROOT });
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      throw new Error(`the Python example failed (needs ${PYTHON} with python3-grpcio, protoc and grpc_python_plugin; scripts/test-prereqs.sh, run by npm test, installs them): ${e.stderr ?? e.message}`);
    }
    assert.equal(out.stdout, 'hello from python\n');
    assert.match(out.stderr, /job \S+ JOB_STATE_SUCCEEDED \(exit code 0\)/);
  });
});
