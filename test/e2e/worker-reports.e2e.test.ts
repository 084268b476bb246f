import assert from 'node:assert/strict';
import { JobState, type Job } from '../../gen/edge/v1/job_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { DATABASES, type TestDatabase } from '../helpers/databases.js';
import { startServerProcess, startWorkerProcess, type ServerProc, type WorkerProc } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const TERMINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED]);

/**
 * How a real `edge worker` reports: a short job's output rides with its end report (no log stream),
 * a long job's output streams while it runs and its RUNNING is reported while it runs. The server's
 * own RPC counters (GET /metrics) say which calls the worker made.
 */
for (const dbKind of DATABASES) {
  describe(`worker reports on ${dbKind.name}: real server, real worker`, function () {
    this.timeout(90_000);
    let db: TestDatabase;
    let server: ServerProc;
    let api: Api;
    let worker: WorkerProc;
    const queue = `reports-${dbKind.name.toLowerCase()}`;

    before(async () => {
      db = await dbKind.create();
      server = await startServerProcess(db.url, ['--heartbeat-interval', '1']);
      api = connectApi(server.url, TEST_ADMIN_TOKEN);
      worker = startWorkerProcess(server.url, { name: queue, queues: queue, concurrency: 4 });
      await waitFor('the worker to connect', async () => (await api.workers.getWorker({ name: queue }).catch(() => undefined))?.worker?.state === WorkerState.IDLE, 30_000);
    });

    after(async () => {
      await worker?.stop('SIGTERM', 15_000);
      api?.close();
      await server?.stop('SIGTERM');
      await db?.drop();
    });

    /** How many calls of a WorkerService or LogService method the server has answered OK. */
    async function calls(method: string): Promise<number> {
      const body = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).text();
      const m = new RegExp(`^edge_rpc_requests_total\\{service="edge\\.v1\\.\\w+",method="${method}",code="OK"\\} (\\d+)`, 'm').exec(body);
      return m ? Number(m[1]) : 0;
    }
    const submit = async (argv: string[]): Promise<Job> => (await api.jobs.submitJob({ spec: { queue, argv } })).job!;
    const job = async (id: string): Promise<Job> => (await api.jobs.getJob({ id })).job!;
    const ended = (id: string) => waitFor(`job ${id} to end`, async () => ((j) => TERMINAL.has(j.state) && j)(await job(id)), 20_000);
    const log = async (id: string) => Buffer.from((await api.logs.readLogs({ jobId: id })).data).toString();

    it('sends a short job\'s output with its end report: no log stream, no UpdateJobState', async () => {
      const streamsBefore = await calls('UploadLogs');
      const jobs = await Promise.all([1, 2, 3].map((i) => submit(['sh', '-c', `echo short ${i}; echo err ${i} >&2`])));
      for (const [i, j] of jobs.entries()) {
        assert.equal((await ended(j.id)).state, JobState.SUCCEEDED);
        assert.equal(await log(j.id), `short ${i + 1}\nerr ${i + 1}\n`);
      }
      assert.equal(await calls('UploadLogs'), streamsBefore, 'no UploadLogs stream');
      assert.equal(await calls('UpdateJobState'), 0);
      assert.ok((await calls('ReportJobStates')) >= 1);
      const attempts = (await api.jobs.listJobAttempts({ jobId: jobs[0]!.id })).attempts;
      assert.ok(attempts[0]!.startTime && attempts[0]!.endTime, 'the attempt has a start and an end');
    });

    it('streams a long job\'s output while it runs, and reports it RUNNING while it runs', async () => {
      const streamsBefore = await calls('UploadLogs');
      const j = await submit(['sh', '-c', 'echo first; sleep 2; echo second']);
      await waitFor('the first line while the job runs', async () => (await log(j.id)) === 'first\n', 10_000);
      assert.equal((await job(j.id)).state, JobState.RUNNING);
      assert.equal((await ended(j.id)).state, JobState.SUCCEEDED);
      assert.equal(await log(j.id), 'first\nsecond\n');
      // A stream is counted once it has ended.
      assert.ok((await calls('UploadLogs')) > streamsBefore, 'streamed');
    });

    it('sends the output of a short job that writes more than an end report carries through a stream', async () => {
      const streamsBefore = await calls('UploadLogs');
      const j = await submit(['sh', '-c', 'head -c 100000 /dev/zero | tr "\\0" x']);
      assert.equal((await ended(j.id)).state, JobState.SUCCEEDED);
      assert.equal(await log(j.id).then((l) => l.length), 100_000);
      assert.ok((await calls('UploadLogs')) > streamsBefore, 'streamed');
    });
  });
}
