import assert from 'node:assert/strict';
import { Code, createClient } from '@connectrpc/connect';
import { Http2SessionManager, createGrpcTransport } from '@connectrpc/connect-node';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import { LogService } from '../../gen/edge/v1/log_service_pb.js';
import { WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import type { RunningServer } from '../../server/app.js';
import { startTestServer } from '../helpers/test-server.js';
import { VERSION } from '../../shared/version.js';
import { MAX_CHUNK_BYTES } from '../../server/services/log-service.js';
import { TEST_REGISTRATION_SECRET, asAdmin, bearer } from '../helpers/credentials.js';
import { createSqliteDatabase, type TestDatabase } from '../helpers/databases.js';
import { codeOf } from '../helpers/rpc-errors.js';


describe('limits: message, log chunk and per-attempt log sizes are ResourceExhausted', function () {
  let db: TestDatabase;
  let server: RunningServer;
  let sessions: Http2SessionManager;

  before(async () => {
    db = await createSqliteDatabase();
    server = await startTestServer(db.url, { maxLogBytes: 1000 });
    sessions = new Http2SessionManager(server.url, undefined, { maxSessionMemory: 100 });
  });

  after(async () => {
    sessions.abort();
    await server.close();
    await db.drop();
  });

  it('refuses a log past the per-attempt limit, a chunk over 4 MiB and a message over the read limit', async () => {
    const t = (token?: string) => createGrpcTransport({ baseUrl: server.url, sessionManager: sessions, interceptors: token ? [bearer(token)] : [asAdmin] });
    const reg = await createClient(WorkerService, t(TEST_REGISTRATION_SECRET)).registerWorker({ name: 'lim', queues: ['lim'], concurrency: 1, version: VERSION });
    const workers = createClient(WorkerService, t(reg.workerToken));
    const logs = createClient(LogService, t(reg.workerToken));
    const ac = new AbortController();
    const stream = workers.fetchJobs({ workerName: 'lim' }, { signal: ac.signal })[Symbol.asyncIterator]();
    const { job } = await createClient(JobService, t()).submitJob({ spec: { argv: ['true'], queue: 'lim' } });
    let attempt = 0;
    while (!attempt) {
      const { value } = await stream.next();
      if (value?.event.case === 'assignment') attempt = value.event.value.attempt;
    }
    ac.abort();
    const upload = (offset: number, bytes: number) =>
      logs.uploadLogs((async function* () {
        yield { jobId: job!.id, attempt, offset: BigInt(offset), data: new Uint8Array(bytes).fill(65) };
      })());
    await upload(0, 900);
    const past = await codeOf(upload(900, 200));
    assert.equal(past.code, Code.ResourceExhausted);
    assert.match(past.message, /would pass 1000 bytes, the limit per attempt/);
    const chunk = await codeOf(upload(0, MAX_CHUNK_BYTES + 1));
    assert.equal(chunk.code, Code.ResourceExhausted);
    assert.match(chunk.message, /data holds 4194305 bytes; the limit is 4194304/);
    const message = await codeOf(createClient(JobService, t()).submitJob({ spec: { argv: ['x'.repeat(6 * 1024 * 1024)] } }));
    assert.equal(message.code, Code.ResourceExhausted);
    assert.equal(Number((await createClient(LogService, t()).readLogs({ jobId: job!.id })).size), 900);
  });
});
