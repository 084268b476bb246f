import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { TEST_ADMIN_TOKEN, TEST_REGISTRATION_SECRET } from '../helpers/credentials.js';
import { createSqliteDatabase, tempDir, type TestDatabase } from '../helpers/databases.js';
import { packTarball, runProgram, spawnProgram, type Program } from '../helpers/packaged.js';
import { runEdge, startServerProcess, type ServerProc } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);

/**
 * Issue 19: `npm pack` makes a package that installs with `npm install -g ./edge-executor-X.tgz`.
 * Installed here into an empty prefix with install scripts off, as on a machine that cannot compile
 * better-sqlite3: the worker side must work all the same, and `edge server` must say plainly that the
 * SQLite driver is missing.
 */
describe('the npm package, installed into an empty prefix', function () {
  this.timeout(300_000);
  let db: TestDatabase;
  let server: ServerProc;
  let api: Api;
  let edge: string;
  let home: string;
  let env: Record<string, string>;
  const started: Program[] = [];

  before(async () => {
    const tarball = await packTarball(tempDir('pack'));
    const prefix = tempDir('prefix');
    home = tempDir('home');
    // The registry or npm's own cache serves the dependencies; --prefer-offline keeps it quick.
    await run('npm', ['install', '-g', '--prefix', prefix, '--ignore-scripts', '--prefer-offline', '--no-audit', '--no-fund', tarball], {
      cwd: home,
      maxBuffer: 16 << 20,
    });
    edge = path.join(prefix, 'bin', 'edge');
    // Node is on PATH for a package install; the checkout is not (cwd and HOME are empty folders).
    env = { PATH: `${path.join(prefix, 'bin')}:${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: home, LANG: 'C' };
    db = await createSqliteDatabase();
    server = await startServerProcess(db.url, ['--heartbeat-interval', '1']);
    api = connectApi(server.url, TEST_ADMIN_TOKEN);
  });

  after(async () => {
    await Promise.all(started.map((p) => p.stop('SIGKILL')));
    api?.close();
    await server?.stop('SIGTERM');
    await db?.drop();
  });

  it('holds the built CLI and nothing of the sources or tests', async () => {
    const root = path.join(path.dirname(path.dirname(edge)), 'lib', 'node_modules', 'edge-executor');
    assert.ok(fs.existsSync(path.join(root, 'dist/worker-cli/src/commands/worker.js')));
    assert.ok(fs.existsSync(path.join(root, 'gen/descriptors.binpb')));
    for (const absent of ['test', 'server', 'proto', 'dist/.tsbuildinfo', 'dist/edge-worker-linux-x64']) {
      assert.ok(!fs.existsSync(path.join(root, absent)), `${absent} is in the package`);
    }
  });

  it('runs `edge --version` like the checkout does', async () => {
    const r = await runProgram(edge, ['--version'], { cwd: home, env });
    assert.equal(r.code, 0, r.output);
    assert.equal(r.output.trim(), (await runEdge(['--version'])).stdout.trim());
  });

  it('runs a worker that takes a real job and drains on `edge stop`', async () => {
    const stateDir = path.join(home, 'state');
    const secretFile = path.join(home, 'registration-secret');
    fs.writeFileSync(secretFile, TEST_REGISTRATION_SECRET, { mode: 0o600 });
    const worker = spawnProgram(
      edge,
      ['worker', '--api-url', server.url, '--name', 'npm-worker', '--state-dir', stateDir, '-q', 'q-npm', '--registration-secret-file', secretFile],
      { cwd: home, env },
    );
    started.push(worker);
    await waitFor('the installed worker to register', () => worker.output().includes('registered'), 30_000);
    const job = (await api.jobs.submitJob({ spec: { queue: 'q-npm', argv: ['sh', '-c', 'echo from-the-package; sleep 1'] } })).job!;
    await waitFor('the job to run', async () => (await api.jobs.getJob({ id: job.id })).job?.state === JobState.RUNNING, 20_000);
    const stop = await runProgram(edge, ['stop', '--name', 'npm-worker', '--state-dir', stateDir], { cwd: home, env });
    assert.equal(stop.code, 0, stop.output);
    assert.equal(await worker.exited, 0, worker.output());
    assert.equal((await api.jobs.getJob({ id: job.id })).job?.state, JobState.SUCCEEDED);
    assert.match(Buffer.from((await api.logs.readLogs({ jobId: job.id })).data).toString(), /from-the-package/);
  });

  it('says plainly that `edge server` on SQLite needs the driver this install went without', async () => {
    const r = await runProgram(edge, ['server', '--port', '0', '--data-dir', path.join(home, 'server')], { cwd: home, env });
    assert.notEqual(r.code, 0, r.output);
    const text = r.output.replace(/\s*\n\s*›?\s*/g, ' '); // oclif wraps error lines
    assert.match(text, /SQLite driver \(better-sqlite3\) cannot be loaded/);
    assert.match(text, /--database mysql:\/\//);
  });
});
