import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { JobState, type Job } from '../../gen/edge/v1/job_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { statusFilePath, type LocalStatus } from '../../worker-cli/src/runtime/status-file.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { createSqliteDatabase, tempDir, type TestDatabase } from '../helpers/databases.js';
import { runEdge, startServerProcess, startWorkerProcess, type ServerProc, type WorkerProc, type WorkerProcOptions } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const TERMINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED]);
/** A CLI failure is one clear line, never a stack trace. */
const noStack = (stderr: string) => assert.doesNotMatch(stderr, /^\s+at .+\(.*:\d+:\d+\)$/m, stderr);
/** oclif wraps error messages at the terminal width: match them as one line. */
const flat = (s: string) => s.replace(/\s*\n\s*(›\s*)?/g, ' ');

describe("operators' CLI end to end: the built edge binary against a real server and workers", function () {
  this.timeout(120_000);
  let db: TestDatabase;
  let server: ServerProc;
  let api: Api;
  const workers: WorkerProc[] = [];

  before(async () => {
    db = await createSqliteDatabase();
    // Heartbeats every 10 minutes: every change seen below reached the worker on its stream.
    server = await startServerProcess(db.url, ['--heartbeat-interval', '600']);
    api = connectApi(server.url, TEST_ADMIN_TOKEN);
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGTERM', 15_000)));
  });

  after(async () => {
    api?.close();
    assert.equal(await server?.stop('SIGTERM'), 0);
    await db?.drop();
  });

  const edge = (args: string[], env: Record<string, string> = {}) => runEdge(args, { EDGE_API_URL: server.url, ...env });

  async function edgeJson(args: string[]): Promise<any> {
    const r = await edge(args);
    assert.equal(r.code, 0, `edge ${args.join(' ')} failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  }

  const workerState = async (name: string) => (await api.workers.getWorker({ name }).catch(() => undefined))?.worker?.state;

  async function worker(opts: WorkerProcOptions, state = WorkerState.IDLE): Promise<WorkerProc> {
    const w = startWorkerProcess(server.url, opts);
    workers.push(w);
    await waitFor(`worker ${opts.name} to be ${WorkerState[state]}`, async () => (await workerState(opts.name)) === state && w.output() !== undefined, 20_000);
    await waitFor(`worker ${opts.name} to write its status`, () => fs.existsSync(path.join(w.stateDir, `${opts.name}.status.json`)));
    return w;
  }

  /** The worker's status file as `edge status` reads it, or undefined while there is none. */
  const localStatus = (w: WorkerProc, name: string): LocalStatus | undefined => {
    try {
      return JSON.parse(fs.readFileSync(statusFilePath(w.stateDir, name), 'utf8')) as LocalStatus;
    } catch {
      return undefined;
    }
  };

  const submit = async (queue: string, argv: string[]): Promise<Job> => (await api.jobs.submitJob({ spec: { queue, argv } })).job!;
  const job = async (id: string) => (await api.jobs.getJob({ id })).job!;
  const ended = (id: string) =>
    waitFor(`job ${id} to end`, async () => {
      const j = await job(id);
      return TERMINAL.has(j.state) ? j : undefined;
    }, 30_000);
  /** A job that runs until the test creates its release file. */
  const heldJob = (queue: string, release: string) => submit(queue, ['sh', '-c', `while [ ! -f '${release}' ]; do sleep 0.05; done`]);

  it('workers list and get: table, --json, -o yaml, with system metrics', async () => {
    await worker({ name: 'lw-1', queues: 'q-list', concurrency: 2 });
    const table = await edge(['workers', 'list']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+STATE\s+QUEUES\s+SLOTS/m);
    assert.match(table.stdout, /^lw-1\s+IDLE\s+q-list\s+0\/2/m);

    const list = await edgeJson(['workers', 'list', '--json']);
    const mine = list.find((w: any) => w.name === 'lw-1');
    assert.equal(mine.state, 'WORKER_STATE_IDLE');
    assert.deepEqual(mine.queues, ['q-list']);
    assert.equal(mine.freeSlots, 2);
    assert.deepEqual(await edgeJson(['workers', 'list', '--json', '--state', 'maintenance_mode']), []);

    const yaml = await edge(['workers', 'list', '-o', 'yaml']);
    assert.equal(parseYaml(yaml.stdout).find((w: any) => w.name === 'lw-1').concurrency, 2);

    const got = await edgeJson(['workers', 'get', 'lw-1', '-o', 'json']);
    const info = got.systemInfo;
    assert.equal(info.hostname, os.hostname());
    assert.equal(info.arch, process.arch);
    assert.equal(info.nodeVersion, process.version);
    assert.equal(info.cpuCount, os.cpus().length);
    assert.ok(info.memoryTotalMib > 0 && info.diskTotalMib > 0 && info.diskFreeMib > 0, JSON.stringify(info));
    assert.equal(info.loadAverage.length, 3);
    assert.equal(got.version, '0.1.0');
    assert.ok(got.startTime && got.concurrency === 2 && got.freeSlots === 2);

    const text = await edge(['workers', 'get', 'lw-1']);
    assert.match(text.stdout, /^state:\s+WORKER_STATE_IDLE|^state:\s+IDLE/m);
    assert.match(text.stdout, /^free slots:\s+2$/m);
    assert.match(text.stdout, /^disk:\s+.* free of /m);
    assert.match(text.stdout, new RegExp(`^node:\\s+${process.version.replace(/\./g, '\\.')}$`, 'm'));

    const missing = await edge(['workers', 'get', 'no-such-worker']);
    assert.equal(missing.code, 1);
    assert.match(flat(missing.stderr), /NotFound: worker no-such-worker not found/);
    noStack(missing.stderr);
  });

  it('status shows the local worker (table and --json) and tells no worker, pid gone and unreadable status apart', async () => {
    const release = path.join(tempDir('release'), 'go');
    const w = await worker({ name: 'st-1', queues: 'q-status', concurrency: 3 });
    const j = await heldJob('q-status', release);
    await waitFor('the job to run', async () => (await job(j.id)).state === JobState.RUNNING);
    const local = ['--name', 'st-1', '--state-dir', w.stateDir];
    // Waits on the file `edge status` reads (one process per poll cost seconds), then asks the CLI once.
    await waitFor('the status file to show the job', () => localStatus(w, 'st-1')?.jobs.length === 1);
    const status = await edgeJson(['status', ...local, '--json']);
    assert.equal(status.jobs.length, 1);
    assert.equal(status.state, 'RUNNING');
    assert.equal(status.usedSlots, 1);
    assert.equal(status.freeSlots, 2);
    assert.equal(status.jobs[0].jobId, j.id);
    assert.equal(status.maintenance, false);
    assert.equal(status.draining, false);
    assert.equal(status.pid, w.pid);
    const table = await edge(['status', ...local]);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^state:\s+RUNNING$/m);
    assert.match(table.stdout, /^slots:\s+1 used, 2 free of 3$/m);
    assert.match(table.stdout, /^draining:\s+no$/m);
    fs.writeFileSync(release, '');
    await ended(j.id);

    // The only worker in its state dir is found without --name.
    assert.equal((await edgeJson(['status', '--state-dir', w.stateDir, '--json'])).name, 'st-1');

    const empty = tempDir('no-worker');
    const none = await edge(['status', '--name', 'ghost', '--state-dir', empty]);
    assert.equal(none.code, 3);
    assert.match(flat(none.stderr), /no worker named ghost runs here/);
    noStack(none.stderr);

    const dead = spawnSync('true');
    fs.writeFileSync(path.join(empty, 'dead.pid'), `${dead.pid}\n`);
    const gone = await edge(['status', '--name', 'dead', '--state-dir', empty]);
    assert.equal(gone.code, 4);
    assert.match(flat(gone.stderr), /is not running \(pid \d+ .* is gone\)/);

    fs.writeFileSync(path.join(empty, 'mute.pid'), `${process.pid}\n`);
    const mute = await edge(['status', '--name', 'mute', '--state-dir', empty]);
    assert.equal(mute.code, 5);
    assert.match(flat(mute.stderr), /status is unreadable/);
  });

  it('maintenance on --wait drains running jobs into MAINTENANCE_MODE, survives a restart, off --wait takes jobs again', async () => {
    const release = path.join(tempDir('release'), 'go');
    const stateDir = tempDir('mw');
    const opts = { name: 'mw-1', queues: 'q-maint', concurrency: 1, stateDir };
    const w = await worker(opts);
    const local = ['--name', 'mw-1', '--state-dir', stateDir];
    const first = await heldJob('q-maint', release);
    await waitFor('the first job to run', async () => (await job(first.id)).state === JobState.RUNNING);

    const waiting = edge(['maintenance', 'on', '--comment', 'kernel update', '--wait', ...local]);
    await waitFor('MAINTENANCE_PENDING while the job runs', async () => (await workerState('mw-1')) === WorkerState.MAINTENANCE_PENDING);
    const pending = await edgeJson(['status', ...local, '--json']);
    assert.equal(pending.state, 'MAINTENANCE_PENDING');
    assert.equal(pending.maintenance, true);
    assert.equal(pending.maintenanceComment, 'kernel update');
    const second = await submit('q-maint', ['echo', 'after maintenance']);
    fs.writeFileSync(release, '');
    const done = await waiting;
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /worker mw-1 is MAINTENANCE_MODE/);
    assert.equal((await ended(first.id)).state, JobState.SUCCEEDED);
    assert.equal(await workerState('mw-1'), WorkerState.MAINTENANCE_MODE);
    assert.equal((await job(second.id)).state, JobState.QUEUED, 'a worker in maintenance gets no new job');
    const table = await edge(['status', ...local]);
    assert.match(table.stdout, /^maintenance:\s+yes: kernel update$/m);
    const shown = await edgeJson(['workers', 'get', 'mw-1', '--json']);
    assert.equal(shown.maintenanceComment.text, 'kernel update');
    assert.match(shown.maintenanceComment.author, /@/);
    assert.ok(shown.maintenanceComment.time);

    // A restart keeps the worker in maintenance.
    assert.equal(await w.stop('SIGINT'), 0);
    workers.splice(workers.indexOf(w), 1);
    await worker(opts, WorkerState.MAINTENANCE_MODE);
    assert.equal((await job(second.id)).state, JobState.QUEUED);

    const off = await edge(['maintenance', 'off', '--wait', ...local]);
    assert.equal(off.code, 0, off.stderr);
    assert.match(off.stdout, /worker mw-1 is (IDLE|RUNNING)/);
    assert.equal((await ended(second.id)).state, JobState.SUCCEEDED);
    assert.equal((await edgeJson(['workers', 'get', 'mw-1', '--json'])).maintenance, undefined, 'maintenance false is omitted in proto3 JSON');

    const noComment = await edge(['maintenance', 'on', ...local]);
    assert.equal(noComment.code, 2);
    assert.match(flat(noComment.stderr), /comment/);
  });

  it('workers maintenance on / comment / off reaches the worker at once; the comment keeps who and when', async () => {
    await worker({ name: 'rm-1', queues: 'q-rmaint' });
    const on = await edgeJson(['workers', 'maintenance', 'rm-1', 'on', '--comment', 'disk swap', '--json']);
    assert.equal(on.maintenance, true);
    assert.equal(on.maintenanceComment.text, 'disk swap');
    assert.match(on.maintenanceComment.author, /^.+@.+$/);
    assert.ok(on.maintenanceComment.time);
    await waitFor('MAINTENANCE_MODE', async () => (await workerState('rm-1')) === WorkerState.MAINTENANCE_MODE);

    const comment = await edge(['workers', 'maintenance', 'rm-1', 'comment', 'back at 15:00']);
    assert.equal(comment.code, 0, comment.stderr);
    assert.match(comment.stdout, /maintenance comment changed/);
    const listed = await edge(['workers', 'list', '--state', 'maintenance_mode']);
    assert.match(listed.stdout, /^rm-1\s+MAINTENANCE_MODE\s+.*back at 15:00$/m);

    const off = await edge(['workers', 'maintenance', 'rm-1', 'off']);
    assert.match(off.stdout, /maintenance ended \(now MAINTENANCE_EXIT\)/);
    await waitFor('IDLE again', async () => (await workerState('rm-1')) === WorkerState.IDLE);

    const bad = await edge(['workers', 'maintenance', 'rm-1', 'on']);
    assert.equal(bad.code, 2);
    assert.match(flat(bad.stderr), /--comment/);
    const notIn = await edge(['workers', 'maintenance', 'rm-1', 'comment', 'x']);
    assert.equal(notIn.code, 1);
    assert.match(flat(notIn.stderr), /FailedPrecondition: worker rm-1 is not in maintenance/);
    noStack(notIn.stderr);
  });

  it('workers queues and concurrency change a worker live: a job of a new queue runs at once', async () => {
    const w = await worker({ name: 'qw-1', queues: 'q-old', concurrency: 1 });
    const added = await edgeJson(['workers', 'queues', 'qw-1', '--add', 'q-new,q-extra', '--json']);
    assert.deepEqual(added.queues, ['q-old', 'q-new', 'q-extra']);
    const j = await submit('q-new', ['echo', 'new queue']);
    assert.equal((await ended(j.id)).workerName, 'qw-1');

    const removed = await edge(['workers', 'queues', 'qw-1', '--remove', 'q-old,q-extra']);
    assert.equal(removed.code, 0, removed.stderr);
    assert.match(removed.stdout, /worker qw-1 now serves q-new$/m);
    const last = await edge(['workers', 'queues', 'qw-1', '--remove', 'q-new']);
    assert.equal(last.code, 1);
    assert.match(flat(last.stderr), /would serve no queue/);

    const conc = await edgeJson(['workers', 'concurrency', 'qw-1', '3', '--json']);
    assert.equal(conc.concurrency, 3);
    await waitFor('the worker to apply it', () => {
      const s = localStatus(w, 'qw-1');
      return s?.concurrency === 3 && s.queues.join(',') === 'q-new';
    });
    const applied = await edgeJson(['status', '--name', 'qw-1', '--state-dir', w.stateDir, '--json']);
    assert.equal(applied.concurrency, 3);
    assert.deepEqual(applied.queues, ['q-new']);
    const text = await edge(['workers', 'concurrency', 'qw-1', '2']);
    assert.match(text.stdout, /now offers 2 slots/);
    const bad = await edge(['workers', 'concurrency', 'qw-1', '0']);
    assert.equal(bad.code, 2);
    assert.match(flat(bad.stderr), /SLOTS must be a whole number from 1 to 1024/);
  });

  it('workers shutdown drains and stops a worker; remove refuses a live worker and forgets a stopped one', async () => {
    const w = await worker({ name: 'sd-1', queues: 'q-sd' });
    const live = await edge(['workers', 'remove', 'sd-1']);
    assert.equal(live.code, 1);
    assert.match(flat(live.stderr), /FailedPrecondition: worker sd-1 is IDLE; only OFFLINE or UNKNOWN workers can be removed/);
    noStack(live.stderr);

    const release = path.join(tempDir('release'), 'go');
    const j = await heldJob('q-sd', release);
    await waitFor('the job to run', async () => (await job(j.id)).state === JobState.RUNNING);
    const down = await edge(['workers', 'shutdown', 'sd-1']);
    assert.equal(down.code, 0, down.stderr);
    assert.match(down.stdout, /worker sd-1: shutdown requested/);
    await waitFor('the worker to drain', async () => (await workerState('sd-1')) === WorkerState.TERMINATING);
    const status = await edgeJson(['status', '--name', 'sd-1', '--state-dir', w.stateDir, '--json']);
    assert.equal(status.draining, true);
    fs.writeFileSync(release, '');
    assert.equal(await w.exited, 0);
    assert.equal((await ended(j.id)).state, JobState.SUCCEEDED, 'the running job finished');
    assert.equal(await workerState('sd-1'), WorkerState.OFFLINE);

    const again = await edge(['workers', 'shutdown', 'sd-1']);
    assert.equal(again.code, 1);
    assert.match(flat(again.stderr), /worker sd-1 is OFFLINE: there is no process to shut down/);
    const removed = await edgeJson(['workers', 'remove', 'sd-1', '--json']);
    assert.equal(removed.name, 'sd-1');
    assert.equal(removed.state, 'WORKER_STATE_OFFLINE');
    assert.equal((await edge(['workers', 'get', 'sd-1'])).code, 1);
    const unknown = await edge(['workers', 'remove', 'sd-1']);
    assert.equal(unknown.code, 1);
    assert.match(flat(unknown.stderr), /NotFound: worker sd-1 not found/);
  });

  it('workers shutdown --all --yes stops every live worker', async () => {
    const a = await worker({ name: 'all-1', queues: 'q-all' });
    const b = await worker({ name: 'all-2', queues: 'q-all' });
    const unconfirmed = await edge(['workers', 'shutdown', '--all']);
    assert.equal(unconfirmed.code, 2);
    assert.match(flat(unconfirmed.stderr), /--yes/);
    const stopped = await edgeJson(['workers', 'shutdown', '--all', '--yes', '--json']);
    assert.deepEqual(stopped.map((w: any) => w.name).sort(), ['all-1', 'all-2']);
    assert.equal(await a.exited, 0);
    assert.equal(await b.exited, 0);
    const after = await edge(['workers', 'shutdown', '--all', '--yes']);
    assert.match(after.stdout, /no live worker to shut down/);
    const gone = await edge(['workers', 'remove', 'all-1']);
    assert.equal(gone.code, 0, gone.stderr);
    assert.equal(gone.stdout, 'worker all-1 removed\n');
  });

  it('refuses a worker of another major.minor with FailedPrecondition naming both versions; accepts another patch', async () => {
    const refused = startWorkerProcess(server.url, { name: 'old-1', env: { EDGE_WORKER_REPORTED_VERSION: '0.2.0' } });
    workers.push(refused);
    assert.equal(await refused.exited, 1);
    assert.match(flat(refused.output()), /registration refused: worker version 0\.2\.0 is not compatible with server version 0\.1\.0/);
    noStack(refused.output());
    assert.equal(await workerState('old-1'), undefined, 'a refused worker is not stored');
    await worker({ name: 'patch-1', queues: 'q-patch', env: { EDGE_WORKER_REPORTED_VERSION: '0.1.99' } });
    assert.equal((await edgeJson(['workers', 'get', 'patch-1', '--json'])).version, '0.1.99');
  });

  it('jobs get their environment and the worker umask; JSON logs go to --log-file; --metrics-port serves metrics', async () => {
    const logFile = path.join(tempDir('logs'), 'sub', 'worker.log');
    const w = await worker({ name: 'env-1', queues: 'q-env', args: ['--umask', '027', '--log-format', 'json', '--log-file', logFile, '--metrics-port', '0'] });
    const j = await submit('q-env', ['sh', '-c', 'echo "$EDGE_JOB_ID|$EDGE_ATTEMPT|$EDGE_QUEUE|$EDGE_WORKER_NAME|$HOSTNAME"; umask']);
    assert.equal((await ended(j.id)).state, JobState.SUCCEEDED);
    const log = Buffer.from((await api.logs.readLogs({ jobId: j.id })).data).toString();
    assert.equal(log, `${j.id}|1|q-env|env-1|${os.hostname()}\n0027\n`);

    const lines = fs.readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const registered = lines.find((l) => /registered as env-1/.test(l.msg));
    assert.ok(registered, 'a JSON line says the worker registered');
    assert.equal(registered.level, 30);
    assert.equal(registered.worker, 'env-1');
    assert.ok(registered.time);
    assert.equal(w.output().includes('registered as'), false, 'nothing logged to stderr');

    const metricsUrl = lines.map((l) => /metrics on (http:\S+)/.exec(l.msg)?.[1]).find(Boolean)!;
    const text = await waitFor('the worker to count the job', async () => {
      const body = await (await fetch(metricsUrl)).text();
      return /^edge_worker_jobs_finished_total\{state="SUCCEEDED"\} 1$/m.test(body) ? body : undefined;
    });
    assert.match(text, /^edge_worker_state\{state="IDLE"\} 1$/m);
    assert.match(text, /^edge_worker_slots_free 1$/m);

    const badUmask = await edge(['worker', '--umask', '999', '--name', 'x', '--state-dir', tempDir('bad')]);
    assert.equal(badUmask.code, 2);
    assert.match(flat(badUmask.stderr), /--umask "999" must be an octal mask/);
  });

  it('enters maintenance by itself when the machine crosses a health threshold (off unless asked)', async () => {
    // No disk has 2^31-1 MiB free: the threshold is crossed from the first sample.
    await worker({ name: 'auto-1', queues: 'q-auto', args: ['--auto-maintenance-disk-free-mib', String(2 ** 31 - 1)] }, WorkerState.MAINTENANCE_MODE);
    const got = await edgeJson(['workers', 'get', 'auto-1', '--json']);
    assert.match(got.maintenanceComment.text, /^automatic: disk free \d+ MiB is below 2147483647 MiB$/);
    assert.equal(got.maintenanceComment.author, 'auto-1 (automatic)');
  });
});
