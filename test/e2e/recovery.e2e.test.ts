import assert from 'node:assert/strict';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { Code, ConnectError } from '@connectrpc/connect';
import { JobState, type Job } from '../../gen/edge/v1/job_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { registerAsWorker } from '../helpers/worker-api.js';
import { createSqliteDatabase, type TestDatabase } from '../helpers/databases.js';
import { PROCESS_START_MS, runEdge, startServerProcess, startWorkerProcess, type ServerProc, type WorkerProc } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const TERMINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED]);

describe('recovery, timeouts, retries, drain and retention', function () {
  this.timeout(90_000);
  let db: TestDatabase;
  let server: ServerProc;
  let api: Api;
  const workers: WorkerProc[] = [];

  const worker = async (name: string, queues: string, extra: string[] = []) => {
    const w = startWorkerProcess(server.url, { name, queues, args: ['--kill-grace', '1', ...extra] });
    workers.push(w);
    await waitFor(`worker ${name} to connect`, async () => (await api.workers.getWorker({ name }).catch(() => undefined))?.worker?.state === WorkerState.IDLE, PROCESS_START_MS);
    return w;
  };
  const get = async (id: string) => (await api.jobs.getJob({ id })).job!;
  const ended = (id: string, timeoutMs = 30_000) =>
    waitFor(`job ${id} to end`, async () => {
      const j = await get(id);
      return TERMINAL.has(j.state) ? j : undefined;
    }, timeoutMs, 100);
  const submit = async (queue: string, argv: string[], extra: { maxAttempts?: number } = {}): Promise<Job> =>
    (await api.jobs.submitJob({ spec: { queue, argv, ...extra } })).job!;

  before(async () => {
    db = await createSqliteDatabase();
    server = await startServerProcess(db.url, [
      '--heartbeat-interval', '1',
      '--worker-timeout', '3',
      '--assign-timeout', '1',
      '--queued-timeout', '2',
      '--retry-backoff', '1',
      '--retain-succeeded', '2',
      '--retain-failed', '3600',
      '--purge-every', '1',
    ]);
    api = connectApi(server.url, TEST_ADMIN_TOKEN);
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGTERM', 10_000)));
  });
  after(async () => {
    api.close();
    await server.stop('SIGTERM');
    await db.drop();
  });

  it('fails a job queued longer than the queued timeout', async () => {
    const j = await submit('q-nobody', ['true']);
    const done = await ended(j.id);
    assert.equal(done.state, JobState.FAILED);
    assert.equal(done.reason, 'queued too long (over 2 s without a worker)');
  });

  it('queues again a job pushed to a worker that never starts it (assign timeout)', async () => {
    // The worker that will run it is up before the job comes back (the 2 s queued timeout leaves no
    // time to start a process under load), serving the queue only once an operator adds it.
    await worker('speaker', 'q-speaker-idle');
    const mute = await registerAsWorker(server.url, { name: 'mute', queues: ['q-mute'], concurrency: 1, version: '0.1.0' });
    const ac = new AbortController();
    const stream = mute.workers.fetchJobs({ workerName: 'mute' }, { signal: ac.signal })[Symbol.asyncIterator]();
    await new Promise((r) => setTimeout(r, 200));
    const j = await submit('q-mute', ['echo', 'finally']);
    let first = await stream.next();
    // The stream's first message (and any quiet one) is a keepalive; the job comes after.
    while (first.value.event.case === 'keepalive') first = await stream.next();
    assert.equal(first.value.event.value.job.id, j.id);
    ac.abort(); // received, never acknowledged
    // Served at once: the job is queued again only when its assign timeout passes, and its brief
    // QUEUED state (the 2 s queued timeout follows it) is read from its attempts, not raced by polling.
    await api.workers.updateWorker({ name: 'speaker', addQueues: ['q-mute'] });
    const done = await ended(j.id);
    await mute.workers.heartbeat({ workerName: 'mute', state: WorkerState.OFFLINE });
    mute.close();
    assert.equal(done.state, JobState.SUCCEEDED);
    // The attempt that never started stays on record; the run is a new attempt.
    assert.equal(done.attempt, 2);
    assert.equal(done.workerName, 'speaker');
    const attempts = (await api.jobs.listJobAttempts({ jobId: j.id })).attempts;
    assert.deepEqual(attempts.map((a) => [a.attempt, a.workerName, JobState[a.state], a.reason]), [
      [1, 'mute', 'QUEUED', 'worker mute did not start attempt 1 in time; queued again'],
      [2, 'speaker', 'SUCCEEDED', ''],
    ]);
  });

  it('retries a failing job with exponential backoff until max_attempts, recording every attempt', async () => {
    await worker('retrier', 'q-retry');
    const j = await submit('q-retry', ['sh', '-c', 'echo try $EDGE_ATTEMPT; exit 7'], { maxAttempts: 3 });
    const done = await ended(j.id);
    assert.equal(done.state, JobState.FAILED);
    assert.equal(done.exitCode, 7);
    assert.equal(done.attempt, 3);
    const { attempts } = await api.jobs.listJobAttempts({ jobId: j.id });
    assert.deepEqual(attempts.map((a) => [a.attempt, JobState[a.state], a.exitCode, a.reason]), [
      [1, 'FAILED', 7, 'exited with code 7'],
      [2, 'FAILED', 7, 'exited with code 7'],
      [3, 'FAILED', 7, 'exited with code 7'],
    ]);
    const gap = (i: number) => timestampMs(attempts[i + 1]!.assignTime!) - timestampMs(attempts[i]!.endTime!);
    // Released when the backoff is over, not at a later sweep (every 2 s).
    assert.ok(gap(0) >= 1000 && gap(0) < 1700, `first retry waited ${gap(0)} ms (backoff 1 s)`);
    assert.ok(gap(1) >= 2000 && gap(1) < 2700, `second retry waited ${gap(1)} ms (backoff 2 s)`);
    for (const a of attempts) {
      const log = await api.logs.readLogs({ jobId: j.id, attempt: a.attempt });
      assert.equal(Buffer.from(log.data).toString(), `try ${a.attempt}\n`);
    }
  });

  it('edge stop --timeout kills jobs that outlast the drain; the worker exits 0', async () => {
    const w = await worker('drainer', 'q-drain');
    const j = await submit('q-drain', ['sleep', '60']);
    await waitFor('the job to run', async () => (await get(j.id)).state === JobState.RUNNING);
    const t0 = Date.now();
    const stop = await runEdge(['stop', '--name', 'drainer', '--state-dir', w.stateDir, '--timeout', '1']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, /still draining after 1 s: killing its running jobs/);
    assert.match(stop.stdout, /worker drainer stopped \(running jobs were killed\)/);
    assert.ok(Date.now() - t0 < 15_000);
    assert.equal(await w.exited, 0);
    const done = await get(j.id);
    assert.equal(done.state, JobState.FAILED);
    assert.equal(done.reason, 'killed: its worker was shut down');
    assert.equal(done.signal, 'SIGTERM');
  });

  it('SIGTERM to a worker drains it gracefully, as systemd stops it', async () => {
    const w = await worker('systemd', 'q-term-drain');
    const j = await submit('q-term-drain', ['sh', '-c', 'sleep 1.5; echo finished']);
    await waitFor('the job to run', async () => (await get(j.id)).state === JobState.RUNNING);
    w.child.kill('SIGTERM');
    assert.equal(await w.exited, 0);
    const done = await get(j.id);
    assert.equal(done.state, JobState.SUCCEEDED);
    assert.equal((await api.workers.getWorker({ name: 'systemd' })).worker!.state, WorkerState.OFFLINE);
  });

  it('purges finished jobs and their logs after the retention period; failed ones are kept longer', async () => {
    await worker('keeper', 'q-retain');
    const ok = await submit('q-retain', ['echo', 'short-lived']);
    const bad = await submit('q-retain', ['false']);
    await ended(ok.id);
    await ended(bad.id);
    await waitFor('the succeeded job to be purged', async () => {
      try {
        await get(ok.id);
        return false;
      } catch (err) {
        return ConnectError.from(err).code === Code.NotFound;
      }
    }, 15_000, 250);
    await assert.rejects(api.logs.readLogs({ jobId: ok.id }), (e: unknown) => ConnectError.from(e).code === Code.NotFound);
    assert.equal((await get(bad.id)).state, JobState.FAILED);
  });

  it('a job keeps running through a server crash; its state and every log byte arrive once the server is back', async () => {
    await worker('survivor', 'q-crash');
    const j = await submit('q-crash', ['sh', '-c', 'for i in $(seq 1 200); do echo line $i; sleep 0.01; done']);
    await waitFor('the job to print', async () => Buffer.from((await api.logs.readLogs({ jobId: j.id })).data).length > 0);
    const port = Number(new URL(server.url).port);
    server.child.kill('SIGKILL');
    await server.exited;
    await new Promise((r) => setTimeout(r, 1500));
    server = await startServerProcess(db.url, ['--heartbeat-interval', '1', '--worker-timeout', '3', '--retain-succeeded', '3600'], port);
    api.close();
    api = connectApi(server.url, TEST_ADMIN_TOKEN);
    const done = await ended(j.id);
    assert.equal(done.state, JobState.SUCCEEDED);
    assert.equal(done.attempt, 1);
    const log = Buffer.from((await api.logs.readLogs({ jobId: j.id })).data).toString();
    assert.equal(log, Array.from({ length: 200 }, (_, i) => `line ${i + 1}\n`).join(''));
  });
});
