import assert from 'node:assert/strict';
import { Code } from '@connectrpc/connect';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import type { FetchJobsResponse, JobReportResult } from '../../gen/edge/v1/worker_service_pb.js';
import type { RunningServer } from '../../server/app.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { VERSION } from '../../shared/version.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { DATABASES, type TestDatabase } from '../helpers/databases.js';
import { codeOf } from '../helpers/rpc-errors.js';
import { startTestServer } from '../helpers/test-server.js';
import { registerAsWorker } from '../helpers/worker-api.js';
import { waitFor } from '../helpers/wait.js';

const stored = (r: JobReportResult | undefined) => (r?.result.case === 'job' ? r.result.value : assert.fail(`refused: ${JSON.stringify(r?.result.value)}`));
const refused = (r: JobReportResult | undefined) => (r?.result.case === 'error' ? r.result.value : assert.fail('stored, not refused'));

for (const { name: dbName, create } of DATABASES) {
  describe(`ReportJobStates: many reports in one call, each answered (${dbName})`, function () {
    this.timeout(60_000);
    let db: TestDatabase;
    let server: RunningServer;
    let admin: Api;
    let worker: Api;
    const stop = new AbortController();
    const assignments: FetchJobsResponse[] = [];
    const queue = `rjs-${dbName}`;
    const name = `rjs-${dbName}`;

    before(async () => {
      db = await create();
      server = await startTestServer(db.url);
      admin = connectApi(server.url, TEST_ADMIN_TOKEN);
      worker = await registerAsWorker(server.url, { name, queues: [queue], concurrency: 64, version: VERSION });
      void (async () => {
        for await (const ev of worker.workers.fetchJobs({}, { signal: stop.signal })) if (ev.event.case === 'assignment') assignments.push(ev);
      })().catch(() => undefined);
    });

    after(async () => {
      stop.abort();
      worker?.close();
      admin?.close();
      await server?.close();
      await db?.drop();
    });

    /** Jobs submitted and pushed to the test's worker: ASSIGNED, attempt 1. */
    async function assigned(n: number, argv = ['true']): Promise<string[]> {
      const { jobs } = await admin.jobs.submitJobs({ specs: Array.from({ length: n }, () => ({ argv, queue })) });
      const ids = jobs.map((j) => j.id);
      await waitFor('the assignments', () => ids.every((id) => assignments.some((a) => a.event.case === 'assignment' && a.event.value.job?.id === id)));
      return ids;
    }
    const job = async (id: string) => (await admin.jobs.getJob({ id })).job!;

    it('applies every report, answers each in order, and a stale report fails alone', async () => {
      const [a, b, c] = await assigned(3);
      const res = await worker.workers.reportJobStates({
        reports: [
          { jobId: a!, attempt: 1, state: JobState.RUNNING },
          { jobId: b!, attempt: 2, state: JobState.RUNNING },
          { jobId: c!, attempt: 1, state: JobState.RUNNING },
          // The same job twice: applied in request order.
          { jobId: a!, attempt: 1, state: JobState.SUCCEEDED, exitCode: 0 },
        ],
      });
      assert.equal(res.results.length, 4);
      assert.equal(stored(res.results[0]).state, JobState.RUNNING);
      assert.equal(refused(res.results[1]).code, Code.FailedPrecondition);
      assert.match(refused(res.results[1]).message, /attempt 2 of job .* is not held by worker/);
      assert.equal(stored(res.results[2]).state, JobState.RUNNING);
      assert.equal(stored(res.results[3]).state, JobState.SUCCEEDED);
      assert.equal((await job(a!)).state, JobState.SUCCEEDED);
      assert.equal((await job(b!)).state, JobState.ASSIGNED);
    });

    it('takes an end that carries its start (ran_for_ms) from an ASSIGNED job: started, then ended', async () => {
      const [id] = await assigned(1);
      const before = await job(id!);
      const res = await worker.workers.reportJobStates({ reports: [{ jobId: id!, attempt: 1, state: JobState.FAILED, exitCode: 3, reason: 'exited with code 3', ranForMs: 5 }] });
      const j = stored(res.results[0]);
      assert.equal(j.state, JobState.FAILED);
      assert.equal(j.exitCode, 3);
      const started = Number(j.startTime!.seconds) * 1000 + j.startTime!.nanos / 1e6;
      const ended = Number(j.endTime!.seconds) * 1000 + j.endTime!.nanos / 1e6;
      const created = Number(before.createTime!.seconds) * 1000 + before.createTime!.nanos / 1e6;
      assert.ok(started <= ended && ended - started <= 5 && started >= created, `${created} ${started} ${ended}`);
      const attempts = (await admin.jobs.listJobAttempts({ jobId: id! })).attempts;
      assert.equal(attempts[0]!.state, JobState.FAILED);
      assert.ok(attempts[0]!.startTime, 'the attempt started');
    });

    it('ends a job canceled before it started CANCELED, even when the end carries its start', async () => {
      const [id] = await assigned(1);
      await admin.jobs.cancelJob({ id: id! });
      const res = await worker.workers.reportJobStates({ reports: [{ jobId: id!, attempt: 1, state: JobState.SUCCEEDED, exitCode: 0, ranForMs: 2 }] });
      const j = stored(res.results[0]);
      assert.equal(j.state, JobState.CANCELED);
      assert.equal(j.reason, 'canceled by user before it started');
      assert.equal(j.startTime, undefined, 'it never started');
    });

    it('stores the output an end report carries before the end, fenced like UploadLogs', async () => {
      const [id, other] = await assigned(2);
      const res = await worker.workers.reportJobStates({
        reports: [
          { jobId: id!, attempt: 1, state: JobState.SUCCEEDED, exitCode: 0, ranForMs: 1, log: Buffer.from('hello from the end\n') },
          { jobId: other!, attempt: 1, state: JobState.RUNNING, log: Buffer.from('x') },
          { jobId: other!, attempt: 7, state: JobState.SUCCEEDED, exitCode: 0, ranForMs: 1, log: Buffer.from('not mine') },
        ],
      });
      assert.equal(stored(res.results[0]).state, JobState.SUCCEEDED);
      const log = await admin.logs.readLogs({ jobId: id! });
      assert.equal(Buffer.from(log.data).toString(), 'hello from the end\n');
      assert.equal(log.complete, true);
      assert.equal(refused(res.results[1]).code, Code.InvalidArgument);
      assert.match(refused(res.results[1]).message, /reports\[1\]\.log goes only with an end/);
      assert.equal(refused(res.results[2]).code, Code.FailedPrecondition);
      assert.equal((await admin.logs.readLogs({ jobId: other! })).size, 0n);
      // Re-sent after a lost answer: the same bytes and the same end change nothing.
      const again = await worker.workers.reportJobStates({ reports: [{ jobId: id!, attempt: 1, state: JobState.SUCCEEDED, exitCode: 0, ranForMs: 1, log: Buffer.from('hello from the end\n') }] });
      assert.equal(stored(again.results[0]).state, JobState.SUCCEEDED);
      assert.equal(Buffer.from((await admin.logs.readLogs({ jobId: id! })).data).toString(), 'hello from the end\n');
    });

    it('refuses more than 64 KiB of output on a report, and more than 1000 reports in a call', async () => {
      const [id] = await assigned(1);
      const big = await worker.workers.reportJobStates({ reports: [{ jobId: id!, attempt: 1, state: JobState.SUCCEEDED, exitCode: 0, log: Buffer.alloc(64 * 1024 + 1) }] });
      assert.equal(refused(big.results[0]).code, Code.ResourceExhausted);
      assert.equal((await job(id!)).state, JobState.ASSIGNED);
      const many = Array.from({ length: 1001 }, () => ({ jobId: id!, attempt: 1, state: JobState.RUNNING }));
      const e = await codeOf(worker.workers.reportJobStates({ reports: many }));
      assert.equal(e.code, Code.InvalidArgument);
      assert.match(e.message, /reports has 1001 items; the limit is 1000/);
    });

    it('refuses a report on a job the worker does not hold (PermissionDenied) and ran_for_ms on a hand-back; a late RUNNING dates its start back', async () => {
      const [id, late] = await assigned(2);
      const { job: foreign } = await admin.jobs.submitJob({ spec: { argv: ['true'], queue: `nobody-${dbName}` } });
      // Assigned well before the report: its start is dated back by what the worker measured, not clamped.
      await new Promise((r) => setTimeout(r, 600));
      const sentAt = Date.now();
      const res = await worker.workers.reportJobStates({
        reports: [
          { jobId: foreign!.id, attempt: 1, state: JobState.RUNNING },
          { jobId: id!, attempt: 1, state: JobState.QUEUED, ranForMs: 3 },
          { jobId: late!, attempt: 1, state: JobState.RUNNING, ranForMs: 400 },
        ],
      });
      const answeredAt = Date.now();
      assert.equal(refused(res.results[0]).code, Code.PermissionDenied);
      assert.equal(refused(res.results[1]).code, Code.InvalidArgument);
      assert.match(refused(res.results[1]).message, /ran_for_ms goes only with RUNNING or an end/);
      const started = res.results[2]!.result.case === 'job' ? res.results[2]!.result.value : undefined;
      assert.equal(started?.state, JobState.RUNNING);
      const startMs = Number(started!.startTime!.seconds) * 1000 + Math.floor(started!.startTime!.nanos / 1e6);
      assert.ok(startMs >= sentAt - 400 - 5 && startMs <= answeredAt - 400 + 5, `start ${startMs - sentAt} ms after the report was sent (expected about -400)`);
    });
  });
}
