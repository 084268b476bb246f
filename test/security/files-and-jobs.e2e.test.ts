import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { JOB_ENV_ALLOWED } from '../../worker-cli/src/runtime/job-env.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { tempDir } from '../helpers/databases.js';
import { EDGE_BIN, ROOT, spawnEdge, startWorkerProcess, type Proc, type WorkerProc } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const TERMINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED]);
const modeOf = (file: string) => (fs.statSync(file).mode & 0o777).toString(8).padStart(4, '0');

/** Every file and folder under a root with its mode, e.g. { 'edge.db': '0600' }. */
function modes(root: string): Record<string, string> {
  const out: Record<string, string> = { '.': modeOf(root) };
  for (const entry of fs.readdirSync(root, { recursive: true }) as string[]) out[entry] = modeOf(path.join(root, entry));
  return out;
}

describe('security: files on disk and what a job can reach (real server and worker processes)', function () {
  this.timeout(120_000);
  let dataDir: string;
  let server: Proc;
  let url: string;
  let api: Api;
  const workers: WorkerProc[] = [];

  before(async () => {
    // A data dir an older version left open, and a fresh server that creates its own credentials.
    dataDir = path.join(tempDir('modes'), 'data');
    fs.mkdirSync(dataDir, { mode: 0o755 });
    fs.chmodSync(dataDir, 0o755);
    server = spawnEdge(['server', '--port', '0', '--data-dir', dataDir], { EDGE_ADMIN_TOKEN: '', EDGE_REGISTRATION_SECRET: '', EDGE_DATABASE_URL: '' });
    url = await waitFor('the server to listen', () => /listening on (http:\/\/\S+)/.exec(server.output())?.[1], 30_000);
    api = connectApi(url, fs.readFileSync(path.join(dataDir, 'admin-token'), 'utf8').trim());
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.stop('SIGTERM', 15_000)));
  });

  after(async () => {
    api?.close();
    await server?.stop('SIGTERM');
  });

  function worker(name: string, args: string[] = [], env: Record<string, string> = {}): WorkerProc {
    const w = startWorkerProcess(url, {
      name,
      queues: name,
      args,
      env: { EDGE_REGISTRATION_SECRET: fs.readFileSync(path.join(dataDir, 'registration-secret'), 'utf8').trim(), EDGE_TOKEN: TEST_ADMIN_TOKEN, ...env },
    });
    workers.push(w);
    return w;
  }

  async function submit(queue: string, argv: string[], env: Record<string, string> = {}, cwd = '') {
    return (await api.jobs.submitJob({ spec: { queue, argv, env, cwd } })).job!.id;
  }

  async function ended(id: string) {
    const job = await waitFor(`job ${id} to end`, async () => {
      const j = (await api.jobs.getJob({ id })).job!;
      return TERMINAL.has(j.state) ? j : undefined;
    }, 60_000);
    const log = await api.logs.readLogs({ jobId: id, maxBytes: 1 << 20 });
    return { job, log: new TextDecoder().decode(log.data) };
  }

  it('3. keeps the data dir 0700 and the database (with -wal, -shm) and credential files 0600; the worker\'s state likewise', async () => {
    const w = worker('modes-w');
    const go = path.join(tempDir('go'), 'go');
    // The job waits, so its spool and process-group files are there to look at.
    const id = await submit('modes-w', ['sh', '-c', `while [ ! -e '${go}' ]; do sleep 0.05; done; echo ok`]);
    await waitFor('the job to run', async () => (await api.jobs.getJob({ id })).job!.state === JobState.RUNNING, 30_000);
    await waitFor('the spool file', () => fs.readdirSync(path.join(w.stateDir, 'modes-w.jobs')).includes(`${id}.1.log`));
    const state = modes(w.stateDir);
    fs.writeFileSync(go, '');
    assert.equal((await ended(id)).job.state, JobState.SUCCEEDED);
    const server = modes(dataDir);
    for (const f of ['edge.db', 'edge.db-wal', 'edge.db-shm', 'admin-token', 'registration-secret']) assert.ok(server[f], `${f} is missing: ${JSON.stringify(server)}`);
    assert.deepEqual(Object.entries(server).filter(([f, m]) => m !== (f === '.' ? '0700' : '0600')), [], `server data dir: ${JSON.stringify(server)}`);
    for (const f of ['modes-w.token', 'modes-w.pid', 'modes-w.status.json', `modes-w.jobs/${id}.1.log`]) {
      assert.ok(state[f], `${f} is missing: ${JSON.stringify(state)}`);
    }
    assert.deepEqual(Object.entries(state).filter(([f, m]) => m !== (f === '.' || f === 'modes-w.jobs' ? '0700' : '0600')), [], `worker state dir: ${JSON.stringify(state)}`);
  });

  it('4. gives a job a clean environment: its own env, the allow-list and EDGE_* only, never the worker\'s secrets', async () => {
    worker('env-w', [], { WORKER_ONLY_SECRET: 'do-not-leak', LC_ALL: 'C', TZ: 'UTC' });
    const { job, log } = await ended(await submit('env-w', ['env'], { MINE: 'mine' }));
    assert.equal(job.state, JobState.SUCCEEDED, log);
    const names = log.trim().split('\n').map((l) => l.slice(0, l.indexOf('=')));
    assert.ok(!log.includes('do-not-leak'), log);
    for (const secret of ['EDGE_REGISTRATION_SECRET', 'EDGE_TOKEN', 'EDGE_ADMIN_TOKEN', 'WORKER_ONLY_SECRET']) assert.ok(!names.includes(secret), `${secret} leaked: ${log}`);
    assert.match(log, /^MINE=mine$/m);
    assert.match(log, /^LC_ALL=C$/m);
    assert.match(log, /^TZ=UTC$/m);
    assert.match(log, new RegExp(`^EDGE_JOB_ID=${job.id}$`, 'm'));
    const extra = names.filter((n) => !(JOB_ENV_ALLOWED as readonly string[]).includes(n) && !n.startsWith('LC_') && !/^(EDGE_(JOB_ID|ATTEMPT|QUEUE|WORKER_NAME)|HOSTNAME|MINE|PWD|SHLVL|_)$/.test(n));
    assert.deepEqual(extra, [], log);
  });

  it('4. warns at start when its jobs could read a local server\'s admin token (no --job-user)', async () => {
    const w = worker('quickstart-w', [], { EDGE_DATA_DIR: dataDir });
    await waitFor('the warning', () => /jobs run as this worker's user and can read the server's admin token in \S+admin-token; on a shared machine run jobs as another user \(--job-user/.test(w.output()), 20_000);
  });

  it('3. ships systemd units with UMask=0077, StateDirectoryMode=0700, and the server and the jobs as different users', () => {
    const unit = (name: string) => fs.readFileSync(path.join(ROOT, 'deploy/systemd', name), 'utf8');
    const server = unit('edge-server.service');
    const worker = unit('edge-worker.service');
    for (const u of [server, worker]) {
      assert.match(u, /^UMask=0077$/m);
      assert.match(u, /^StateDirectoryMode=0700$/m);
    }
    const serverUser = /^User=(\S+)$/m.exec(server)?.[1];
    const jobUser = /--job-user (\S+)/.exec(worker)?.[1];
    assert.ok(serverUser && jobUser && serverUser !== jobUser && serverUser !== /^User=(\S+)$/m.exec(worker)?.[1], `${serverUser} / ${jobUser}`);
  });

  describe('edge worker --job-user', function () {
    const user = `edge-test-job-${randomBytes(3).toString('hex')}`;
    let uid: number;
    let gid: number;
    before(function () {
      // Switching users needs root: this machine's CI runs the suite as root; elsewhere it says so and fails.
      assert.equal(process.getuid?.(), 0, 'these tests create a throw-away user and need to run as root');
      execFileSync('useradd', ['--system', '--no-create-home', '--shell', '/usr/sbin/nologin', user]);
      uid = Number(execFileSync('id', ['-u', user], { encoding: 'utf8' }).trim());
      gid = Number(execFileSync('id', ['-g', user], { encoding: 'utf8' }).trim());
    });
    after(() => {
      spawnSync('userdel', [user]);
    });

    it('4. runs jobs as that user, who cannot read the worker\'s token nor the server\'s credentials', async () => {
      const w = worker('as-user', ['--job-user', user]);
      await waitFor('the worker token', () => fs.existsSync(path.join(w.stateDir, 'as-user.token')), 20_000);
      const script = [
        'id -u',
        `cat '${path.join(w.stateDir, 'as-user.token')}' || echo no-token`,
        `cat '${path.join(dataDir, 'admin-token')}' || echo no-admin-token`,
        `ls '${dataDir}' || echo no-data-dir`,
        'echo "HOME=$HOME USER=$USER"',
      ].join('; ');
      const { job, log } = await ended(await submit('as-user', ['sh', '-c', script], {}, '/'));
      assert.equal(job.state, JobState.SUCCEEDED, log);
      const lines = log.split('\n');
      assert.equal(lines[0], String(uid), log);
      assert.match(log, /no-token/);
      assert.match(log, /no-admin-token/);
      assert.match(log, /no-data-dir/);
      assert.match(log, new RegExp(`USER=${user}`));
      assert.ok(!log.includes('edge_worker_') && !log.includes('edge_admin_'), log);
    });

    it('4. refuses --job-user with a clear error when the worker cannot switch users, or the user does not exist', () => {
      const missing = spawnSync(process.execPath, [EDGE_BIN, 'worker', '--job-user', 'no-such-user-edge', '--state-dir', tempDir('nouser')], { encoding: 'utf8' });
      assert.equal(missing.status, 2, missing.stderr);
      assert.match(missing.stderr, /--job-user no-such-user-edge: no such user on this machine/);
      // The worker itself as the unprivileged user, asked to run jobs as root.
      const state = tempDir('unprivileged');
      fs.chownSync(state, uid, gid);
      const r = spawnSync(process.execPath, [EDGE_BIN, 'worker', '--job-user', 'root', '--state-dir', state], { encoding: 'utf8', uid, gid, cwd: '/' });
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr.replace(/\s*\n\s*(›\s*)?/g, ' '), new RegExp(`--job-user root: this worker runs as uid ${uid} and may not start processes as another user`));
    });
  });
});
