import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { JobState, type Job } from '../../gen/edge/v1/job_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { EXIT } from '../../worker-cli/src/lib/job-exit-codes.js';
import { DATABASES, tempDir, type TestDatabase } from '../helpers/databases.js';
import { runEdge, spawnEdge, startServerProcess, startWorkerProcess, type ServerProc, type WorkerProc } from '../helpers/processes.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { waitFor } from '../helpers/wait.js';

for (const dbKind of DATABASES) {
  describe(`edge run end to end (${dbKind.name}): a remote job that feels like a local command`, function () {
    this.timeout(120_000);
    let db: TestDatabase;
    let server: ServerProc;
    let api: Api;
    let worker: WorkerProc;
    const QUEUE = 'run-q';

    before(async () => {
      db = await dbKind.create();
      server = await startServerProcess(db.url);
      api = connectApi(server.url, TEST_ADMIN_TOKEN);
      // Kill grace of 5 s: a job that ignores SIGTERM stays RUNNING long enough to test a second Ctrl-C.
      worker = startWorkerProcess(server.url, { name: `runner-${dbKind.name}`, queues: QUEUE, concurrency: 4, args: ['--kill-grace', '5'] });
      await waitFor('the worker to register', async () => (await api.workers.listWorkers({ pageSize: 10 })).workers.length === 1, 20_000);
    });

    after(async () => {
      api?.close();
      await worker?.stop('SIGTERM', 25_000);
      await server?.stop('SIGTERM');
      await db?.drop();
    });

    const env = () => ({ EDGE_API_URL: server.url });
    const edge = (args: string[]) => runEdge(args, env());
    const job = async (id: string) => (await api.jobs.getJob({ id })).job!;
    /** The one job of a queue whose command mentions `marker`, once it is in `state`. */
    const jobOf = (marker: string, state: JobState, queue = QUEUE) =>
      waitFor(`the job "${marker}" to be ${JobState[state]}`, async () => {
        const { jobs } = await api.jobs.listJobs({ queue, pageSize: 100 });
        return jobs.find((j: Job) => j.spec!.argv.join(' ').includes(marker) && j.state === state);
      }, 30_000);

    it("prints the command's stdout and stderr and exits with its exit code", async () => {
      const r = await edge(['run', '-q', QUEUE, '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.equal(r.code, 3, r.stderr);
      // One log keeps both streams (the help says so): both lines come out on stdout, in order.
      assert.equal(r.stdout, 'out\nerr\n');
      assert.doesNotMatch(r.stderr, /at .+:\d+:\d+/);
    });

    it('exits 0 for a job that succeeds, with nothing but its output on stdout', async () => {
      const r = await edge(['run', '-q', QUEUE, '-e', 'WHO=edge', '--', 'sh', '-c', 'echo "hello $WHO"']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, 'hello edge\n');
    });

    it('exits 128+N for a job ended by signal N', async () => {
      const r = await edge(['run', '-q', QUEUE, '--', 'sh', '-c', 'echo before; kill -KILL $$']);
      assert.equal(r.code, 128 + 9, r.stderr);
      assert.equal(r.stdout, 'before\n');
      assert.match(r.stderr, /ended FAILED \(killed by SIGKILL\)/);
    });

    it('exits with the documented code for a timed-out job and for a command the worker cannot start', async () => {
      const timedOut = await edge(['run', '-q', QUEUE, '--timeout', '1', '--', 'sleep', '30']);
      assert.equal(timedOut.code, EXIT.timedOut, timedOut.stderr);
      assert.match(timedOut.stderr, /timed out after 1 s/);
      const missing = await edge(['run', '-q', QUEUE, '--', 'no-such-command-anywhere']);
      assert.equal(missing.code, EXIT.couldNotStart, missing.stderr);
    });

    it('Ctrl-C cancels a running job, waits for its end and exits with the canceled code', async () => {
      const cli = spawnEdge(['run', '-q', QUEUE, '--', 'sleep', '31'], env());
      const running = await jobOf('sleep 31', JobState.RUNNING);
      cli.child.kill('SIGINT');
      assert.equal(await cli.exited, EXIT.canceled, cli.output());
      assert.match(cli.output(), /canceling job/);
      const get = await edge(['job', 'get', running.id]);
      assert.equal(get.code, 0, get.stderr);
      assert.match(get.stdout, /^state:\s+CANCELED$/m);
    });

    it('Ctrl-C twice leaves the job running and says how to follow it', async () => {
      const cli = spawnEdge(['run', '-q', QUEUE, '--', 'sh', '-c', "trap '' TERM; sleep 32"], env());
      const running = await jobOf('sleep 32', JobState.RUNNING);
      cli.child.kill('SIGINT');
      await waitFor('the first Ctrl-C to be handled', () => /canceling job/.test(cli.output()));
      cli.child.kill('SIGINT');
      assert.equal(await cli.exited, EXIT.detached, cli.output());
      assert.match(cli.output(), new RegExp(`edge job logs -f ${running.id}`));
      // The first Ctrl-C asked for the cancel; the job ignores SIGTERM, so it still runs after the CLI left.
      const j = await job(running.id);
      assert.equal(j.state, JobState.RUNNING);
      assert.equal(j.cancelRequested, true);
      // SIGKILL after the grace period ends it CANCELED, freeing its slot for the tests after this one.
      await waitFor('the job to end', async () => (await job(running.id)).state === JobState.CANCELED, 20_000);
    });

    it('shows why a job waits on one status line, and Ctrl-C cancels it while queued', async () => {
      const cli = spawnEdge(['run', '-q', 'nobody-serves-this', '--', 'echo', 'never'], env());
      await waitFor('the waiting status', () => /waiting: no live worker serves queue nobody-serves-this/.test(cli.output()));
      cli.child.kill('SIGINT');
      assert.equal(await cli.exited, EXIT.canceled, cli.output());
      // Not a terminal: the status is printed once per change, not once per refresh.
      assert.equal(cli.output().match(/waiting:/g)!.length, 1, cli.output());
    });

    it('shows the queue position of a job that waits for free slots, then runs it', async () => {
      const release = path.join(tempDir('release'), 'go');
      const holder = (await api.jobs.submitJob({ spec: { queue: QUEUE, slots: 4, argv: ['sh', '-c', `while [ ! -f '${release}' ]; do sleep 0.05; done`] } })).job!;
      await waitFor('the holder to run', async () => (await job(holder.id)).state === JobState.RUNNING);
      const first = (await api.jobs.submitJob({ spec: { queue: QUEUE, priority: 5, argv: ['echo', 'first'] } })).job!;
      const cli = spawnEdge(['run', '-q', QUEUE, '--', 'echo', 'second'], env());
      try {
        await waitFor('the position', () => /waiting: queued in run-q, position 2 of 2; 0 free slot\(s\) on 1 worker\(s\)/.test(cli.output()));
      } finally {
        fs.writeFileSync(release, '');
      }
      assert.equal(await cli.exited, 0, cli.output());
      assert.match(cli.output(), /^second$/m);
      assert.equal((await job(first.id)).state, JobState.SUCCEEDED);
    });

    it('--detach prints the id and returns; the job runs on', async () => {
      const r = await edge(['run', '--detach', '-q', QUEUE, '--', 'echo', 'detached']);
      assert.equal(r.code, 0, r.stderr);
      const id = r.stdout.trim();
      await waitFor('the detached job to succeed', async () => (await job(id)).state === JobState.SUCCEEDED);
    });

    it('exits with the could-not-submit code when the server cannot be reached or refuses the job', async () => {
      const down = await runEdge(['run', '--api-url', 'http://127.0.0.1:1', '--', 'true']);
      assert.equal(down.code, EXIT.notSubmitted, down.stderr);
      assert.match(down.stderr, /could not submit the job: Unavailable/);
      const refused = await edge(['run', '-q', 'bad queue!', '--', 'true']);
      assert.equal(refused.code, EXIT.notSubmitted, refused.stderr);
      assert.match(refused.stderr, /InvalidArgument/);
    });

    it('loses no output line and shows none twice when the server restarts during the run', async () => {
      const port = Number(new URL(server.url).port);
      const script = 'i=1; while [ $i -le 50 ]; do echo "line $i"; i=$((i+1)); sleep 0.1; done';
      const cli = spawnEdge(['run', '-q', QUEUE, '--', 'sh', '-c', script], env());
      await waitFor('the first lines', () => /line 5\n/.test(cli.output()), 30_000);
      api.close();
      assert.equal(await server.stop('SIGTERM'), 0);
      server = await startServerProcess(db.url, [], port);
      api = connectApi(server.url, TEST_ADMIN_TOKEN);
      assert.equal(await cli.exited, 0, cli.output());
      const lines = cli.output().split('\n').filter((l) => l.startsWith('line '));
      assert.deepEqual(lines, Array.from({ length: 50 }, (_, i) => `line ${i + 1}`));
      assert.match(cli.output(), /reconnecting/);
    });
  });
}
