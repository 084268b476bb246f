import fs from 'node:fs';
import assert from 'node:assert/strict';
import { JobState, type Job } from '../../gen/edge/v1/job_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { DATABASES, type TestDatabase } from '../helpers/databases.js';
import { PROCESS_START_MS, runEdge, startServerProcess, startWorkerProcess, type ServerProc, type WorkerProc } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const TERMINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED]);

for (const dbKind of DATABASES) {
  describe(`end to end on ${dbKind.name}: real server, real workers`, function () {
    this.timeout(90_000);
    let db: TestDatabase;
    let server: ServerProc;
    let api: Api;
    const workers: WorkerProc[] = [];

    before(async () => {
      db = await dbKind.create();
      server = await startServerProcess(db.url, ['--heartbeat-interval', '1']);
      api = connectApi(server.url, TEST_ADMIN_TOKEN);
    });

    afterEach(async () => {
      // A graceful stop, so that no job process outlives its test.
      await Promise.all(workers.splice(0).map((w) => w.stop('SIGTERM', 15_000)));
    });

    after(async () => {
      api?.close();
      assert.equal(await server?.stop('SIGTERM'), 0, 'server exits cleanly on SIGTERM');
      await db?.drop();
    });

    async function worker(name: string, queues: string, concurrency = 1): Promise<WorkerProc> {
      const w = startWorkerProcess(server.url, { name, queues, concurrency });
      workers.push(w);
      await waitFor(`worker ${name} to connect`, async () => {
        const res = await api.workers.getWorker({ name }).catch(() => undefined);
        return res?.worker?.state === WorkerState.IDLE && w.output().includes('registered');
      }, PROCESS_START_MS);
      return w;
    }

    const submit = async (queue: string, argv: string[], slots = 1): Promise<Job> =>
      (await api.jobs.submitJob({ spec: { queue, argv, slots } })).job!;

    const job = async (id: string): Promise<Job> => (await api.jobs.getJob({ id })).job!;

    const ended = (id: string, timeoutMs = 20_000) =>
      waitFor(`job ${id} to end`, async () => {
        const j = await job(id);
        return TERMINAL.has(j.state) ? j : undefined;
      }, timeoutMs);

    async function fullLog(id: string): Promise<string> {
      const r = await api.logs.readLogs({ jobId: id });
      return Buffer.from(r.data).toString();
    }

    it('runs a job that prints and exits 3: FAILED, exit code 3, output readable', async () => {
      await worker('exit3', 'q-exit3');
      const j = await submit('q-exit3', ['sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 3']);
      const done = await ended(j.id);
      assert.equal(done.state, JobState.FAILED);
      assert.equal(done.exitCode, 3);
      assert.equal(done.workerName, 'exit3');
      assert.equal(done.attempt, 1);
      const log = await api.logs.readLogs({ jobId: j.id });
      assert.equal(log.complete, true);
      const text = Buffer.from(log.data).toString();
      assert.match(text, /to-stdout/);
      assert.match(text, /to-stderr/);
    });

    it('runs a succeeding job: SUCCEEDED, exit code 0, argv passed without a shell', async () => {
      await worker('ok', 'q-ok');
      const j = await submit('q-ok', ['printf', '%s|', 'a b', '$HOME', '*']);
      const done = await ended(j.id);
      assert.equal(done.state, JobState.SUCCEEDED);
      assert.equal(done.exitCode, 0);
      assert.equal(await fullLog(j.id), 'a b|$HOME|*|');
      assert.ok(done.startTime && done.endTime);
    });

    it('starts jobs from the worker spawn helper once it is ready, not from the worker itself', async () => {
      const w = await worker('spawner', 'q-spawner');
      const helper = await waitFor('the worker spawn helper to run', async () => {
        const children = fs.readFileSync(`/proc/${w.pid}/task/${w.pid}/children`, 'utf8').split(' ').filter(Boolean);
        return children.find((c) => fs.readFileSync(`/proc/${c}/cmdline`, 'latin1').includes('-I\0-S\0-c\0'));
      });
      // The helper says it is ready within a moment of starting; jobs before that start from the worker.
      await new Promise((r) => setTimeout(r, 1000));
      const j = await submit('q-spawner', ['sh', '-c', 'echo "$PPID"; read -r _ _ _ _ pgrp _ < /proc/$$/stat; echo "$pgrp $$"']);
      const done = await ended(j.id);
      assert.equal(done.state, JobState.SUCCEEDED);
      const [parent, group] = (await fullLog(j.id)).trim().split('\n');
      assert.equal(parent, helper, 'the job is a child of the helper');
      const [pgrp, pid] = group!.split(' ');
      assert.equal(pgrp, pid, 'the job leads its own process group');
    });

    it('records a job whose command does not exist as FAILED with the reason in its log', async () => {
      await worker('missing', 'q-missing');
      const j = await submit('q-missing', ['/no/such/program']);
      const done = await ended(j.id);
      assert.equal(done.state, JobState.FAILED);
      assert.match(done.reason, /could not start "\/no\/such\/program": spawn \/no\/such\/program ENOENT/);
      assert.match(await fullLog(j.id), /ENOENT/);
    });

    it('does not give a job of queue b to a worker of queue a', async () => {
      await worker('only-a', 'qa');
      const j = await submit('qb', ['true']);
      const control = await submit('qa', ['true']);
      assert.equal((await ended(control.id)).state, JobState.SUCCEEDED); // the worker is alive and taking work
      await new Promise((r) => setTimeout(r, 500));
      assert.equal((await job(j.id)).state, JobState.QUEUED);
      await worker('only-b', 'qb');
      const done = await ended(j.id);
      assert.equal(done.state, JobState.SUCCEEDED);
      assert.equal(done.workerName, 'only-b');
    });

    it('gives a worker of concurrency 3 holding a 2-slot job no second 2-slot job until the first ends', async () => {
      await worker('slots', 'q-slots', 3);
      const first = await submit('q-slots', ['sleep', '1.5'], 2);
      await waitFor('the first job to run', async () => (await job(first.id)).state === JobState.RUNNING);
      const second = await submit('q-slots', ['sleep', '0.2'], 2);
      const small = await submit('q-slots', ['sleep', '0.2'], 1);
      // The 1-slot job fits beside the 2-slot one (the seed's example); the second 2-slot job does not.
      const smallDone = await ended(small.id);
      assert.equal(smallDone.state, JobState.SUCCEEDED);
      const w = (await api.workers.getWorker({ name: 'slots' })).worker!;
      assert.ok(w.usedSlots <= 3);
      const firstDone = await ended(first.id);
      const secondDone = await ended(second.id);
      assert.equal(secondDone.state, JobState.SUCCEEDED);
      const firstEnd = Number(firstDone.endTime!.seconds) * 1000 + firstDone.endTime!.nanos / 1e6;
      const secondStart = Number(secondDone.startTime!.seconds) * 1000 + secondDone.startTime!.nanos / 1e6;
      assert.ok(secondStart >= firstEnd, `second 2-slot job started at ${secondStart}, before the first ended at ${firstEnd}`);
    });

    it('serves the log of a long-running job before it finishes; cancel stops it', async () => {
      await worker('long', 'q-long');
      const j = await submit('q-long', ['sh', '-c', 'echo started; sleep 30; echo never-seen']);
      const text = await waitFor('the first line of the running job', async () => {
        const t = await fullLog(j.id);
        return t.includes('started') ? t : undefined;
      });
      assert.equal(text, 'started\n');
      const running = await job(j.id);
      assert.equal(running.state, JobState.RUNNING);
      const r = await api.logs.readLogs({ jobId: j.id });
      assert.equal(r.complete, false);
      await api.jobs.cancelJob({ id: j.id });
      const done = await ended(j.id);
      assert.equal(done.state, JobState.CANCELED);
      assert.equal(done.signal, 'SIGTERM');
      assert.equal(await fullLog(j.id), 'started\n');
    });

    it('edge stop waits for a running sleep job, which ends SUCCEEDED; the worker goes OFFLINE and exits 0', async () => {
      const w = await worker('stopper', 'q-stop');
      const j = await submit('q-stop', ['sh', '-c', 'sleep 2; echo slept']);
      await waitFor('the job to run', async () => (await job(j.id)).state === JobState.RUNNING);
      const stopped = await runEdge(['stop', '--name', 'stopper', '--state-dir', w.stateDir]);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.match(stopped.stdout, /waiting for its running jobs to finish/);
      assert.match(stopped.stdout, /worker stopper stopped/);
      // When `edge stop` returns, the worker has exited and the job is done, its log complete.
      assert.equal(await w.exited, 0);
      const done = await job(j.id);
      assert.equal(done.state, JobState.SUCCEEDED);
      assert.equal(await fullLog(j.id), 'slept\n');
      assert.equal((await api.workers.getWorker({ name: 'stopper' })).worker!.state, WorkerState.OFFLINE);
      const again = await runEdge(['stop', '--name', 'stopper', '--state-dir', w.stateDir]);
      assert.equal(again.code, 1);
      assert.match(again.stderr, /no worker named stopper runs here/);
    });

    it('the job CLI submits, shows, lists and prints logs, with --json for scripts', async () => {
      await worker('cli', 'q-cli');
      const env = { EDGE_API_URL: server.url };
      const sub = await runEdge(['job', 'submit', '-q', 'q-cli', '--json', '--', 'sh', '-c', 'echo from-cli'], env);
      assert.equal(sub.code, 0, sub.stderr);
      const submitted = JSON.parse(sub.stdout) as { id: string; state: string };
      // QUEUED, or already ASSIGNED when the idle worker took it in the submit itself (the fast path).
      assert.match(submitted.state, /^JOB_STATE_(QUEUED|ASSIGNED)$/);
      await ended(submitted.id);
      const got = JSON.parse((await runEdge(['job', 'get', submitted.id, '--json'], env)).stdout) as { state: string; exitCode: number };
      assert.equal(got.state, 'JOB_STATE_SUCCEEDED');
      assert.equal(got.exitCode, 0);
      const list = await runEdge(['job', 'list', '-q', 'q-cli'], env);
      assert.match(list.stdout, new RegExp(`${submitted.id}\\s+SUCCEEDED\\s+q-cli\\s+cli`));
      const logs = await runEdge(['job', 'logs', submitted.id], env);
      assert.equal(logs.stdout, 'from-cli\n');
      const plain = await runEdge(['job', 'submit', '-q', 'q-cli', '--', 'true'], env);
      assert.match(plain.stdout.trim(), /^[0-9a-f-]{36}$/);
      const bad = await runEdge(['job', 'get', '01900000-0000-7000-8000-000000000000'], env);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /NotFound: job 01900000-0000-7000-8000-000000000000 not found/);
      assert.doesNotMatch(bad.stderr, /at .*\.js:\d+/); // no stack trace
    });
  });
}
