import assert from 'node:assert/strict';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import fs from 'node:fs';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { makeCertificates } from '../helpers/certificates.js';
import { TEST_ADMIN_TOKEN, asAdmin } from '../helpers/credentials.js';
import { createSqliteDatabase, tempDir, type TestDatabase } from '../helpers/databases.js';
import { startServerProcess, startWorkerProcess, type ServerProc } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

describe('TLS end to end: a private CA', function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let server: ServerProc;
  let api: Api;
  let certs: ReturnType<typeof makeCertificates>;

  before(async () => {
    certs = makeCertificates(tempDir('tls'));
    db = await createSqliteDatabase();
    server = await startServerProcess(db.url, ['--tls-cert', certs.cert, '--tls-key', certs.key]);
    assert.match(server.url, /^https:\/\//);
    api = connectApi(server.url, TEST_ADMIN_TOKEN, { caFile: certs.ca });
  });

  after(async () => {
    api?.close();
    assert.equal(await server?.stop('SIGTERM'), 0);
    await db?.drop();
  });

  it('runs a job on a worker that trusts the CA (--ca), over gRPC with HTTP/2 by ALPN', async () => {
    const worker = startWorkerProcess(server.url, { name: 'tls-1', queues: 'tls', args: ['--ca', certs.ca] });
    try {
      const { job } = await api.jobs.submitJob({ spec: { argv: ['sh', '-c', 'echo over tls'], queue: 'tls' } });
      const done = await waitFor('the job to succeed', async () => {
        const j = (await api.jobs.getJob({ id: job!.id })).job!;
        return j.state === JobState.SUCCEEDED ? j : undefined;
      }, 30_000);
      assert.equal(done.workerName, 'tls-1');
      const log = await api.logs.readLogs({ jobId: job!.id });
      assert.equal(new TextDecoder().decode(log.data), 'over tls\n');
    } finally {
      assert.equal(await worker.stop('SIGTERM'), 0);
    }
  });

  it('serves Connect over HTTP/1.1 with TLS too', async () => {
    const jobs = createClient(JobService, createConnectTransport({ baseUrl: server.url, httpVersion: '1.1', interceptors: [asAdmin], nodeOptions: { ca: fs.readFileSync(certs.ca) } }));
    const { job } = await jobs.submitJob({ spec: { argv: ['echo', 'over http/1.1'], queue: 'tls-h1' } });
    assert.match(job!.id, /^[0-9a-f-]{36}$/);
    const got = (await jobs.getJob({ id: job!.id })).job!;
    assert.deepEqual([got.id, got.state, got.spec?.queue, got.spec?.argv], [job!.id, JobState.QUEUED, 'tls-h1', ['echo', 'over http/1.1']]);
    const listed = await jobs.listJobs({ queue: 'tls-h1', pageSize: 10 });
    assert.deepEqual(listed.jobs.map((j) => j.id), [job!.id]);
  });

  it('refuses a worker without --ca with a clear message, not a stack trace', async () => {
    const worker = startWorkerProcess(server.url, { name: 'tls-untrusting', queues: 'tls' });
    const code = await Promise.race([worker.exited, new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
    if (code === 'still running') await worker.stop('SIGKILL');
    assert.equal(code, 1, worker.output());
    assert.match(worker.output(), /TLS certificate is not trusted .*--ca FILE/);
    assert.doesNotMatch(worker.output(), /\n\s+at .*\(.*:\d+:\d+\)/);
  });
});
