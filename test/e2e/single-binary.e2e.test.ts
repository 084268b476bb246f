import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { makeCertificates } from '../helpers/certificates.js';
import { TEST_ADMIN_TOKEN, TEST_REGISTRATION_SECRET } from '../helpers/credentials.js';
import { createSqliteDatabase, tempDir, type TestDatabase } from '../helpers/databases.js';
import { buildWorkerBinary, pathWithoutNode, runProgram, spawnProgram, type Program } from '../helpers/packaged.js';
import { runEdge, startServerProcess, startWorkerProcess, type ServerProc } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

/**
 * Issue 19: the worker as one file. The binary is copied into an empty folder and run with an
 * environment of its own (no node on PATH, no node_modules anywhere near) against a real server.
 * The server's store plays no part here, so one database kind is enough.
 */
describe('the single worker binary (dist/edge-worker-linux-x64)', function () {
  // The first build on a machine takes a minute or two; later runs copy the cached binary.
  this.timeout(240_000);
  let db: TestDatabase;
  let server: ServerProc;
  let api: Api;
  let site: string;
  let binary: string;
  let env: Record<string, string>;
  let secretFile: string;
  const started: Program[] = [];

  before(async () => {
    site = tempDir('site'); // the empty folder the one file is copied into
    const built = await buildWorkerBinary(tempDir('build'));
    binary = path.join(site, 'edge-worker');
    fs.copyFileSync(built, binary);
    fs.chmodSync(binary, 0o755);
    secretFile = path.join(site, 'registration-secret');
    fs.writeFileSync(secretFile, TEST_REGISTRATION_SECRET + '\n', { mode: 0o600 });
    env = { PATH: pathWithoutNode(), HOME: site, LANG: 'C' };
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

  it('is one executable file that carries no native module and no node_modules', () => {
    assert.deepEqual(fs.readdirSync(site).sort(), ['edge-worker', 'registration-secret']);
    const st = fs.statSync(binary);
    assert.ok(st.mode & 0o100, 'executable');
    const mib = st.size / 2 ** 20;
    assert.ok(mib <= 100, `the binary is ${mib.toFixed(1)} MiB, over the 100 MiB goal`);
    const bytes = fs.readFileSync(binary);
    // Names only a bundled store or driver would carry (knex's and better-sqlite3's own strings).
    for (const needle of ['better_sqlite3.node', 'knex: Required configuration option', 'mysql2/promise']) {
      assert.equal(bytes.includes(needle), false, `the binary carries "${needle}"`);
    }
    assert.ok(!fs.existsSync(path.join(env.PATH!, 'node')));
  });

  it('answers --version and --help as the full CLI does, without node on PATH', async () => {
    const version = await runProgram(binary, ['--version'], { cwd: site, env });
    assert.equal(version.code, 0, version.output);
    const full = await runEdge(['--version']);
    assert.equal(version.output.trim(), full.stdout.trim());

    const help = await runProgram(binary, ['--help'], { cwd: site, env });
    assert.equal(help.code, 0, help.output);
    for (const cmd of ['worker', 'stop', 'status', 'maintenance']) assert.match(help.output, new RegExp(`^\\s+${cmd}\\s`, 'm'), help.output);
    assert.doesNotMatch(help.output, /^\s+server\s/m, 'the server is not part of the worker binary');
    assert.doesNotMatch(help.output, /Warning/, 'no warning from the embedded runtime');

    const notHere = await runProgram(binary, ['server'], { cwd: site, env });
    assert.equal(notHere.code, 2);
    assert.match(notHere.output, /"server" is not in the single worker binary.*full CLI/);

    const workerHelp = await runProgram(binary, ['worker', '--help'], { cwd: site, env });
    assert.equal(workerHelp.code, 0, workerHelp.output);
    assert.match(workerHelp.output, /--registration-secret-file/);
    const maintenanceHelp = await runProgram(binary, ['maintenance', 'on', '--help'], { cwd: site, env });
    assert.equal(maintenanceHelp.code, 0, maintenanceHelp.output);
    assert.match(maintenanceHelp.output, /--comment/);
  });

  it('registers, runs a real job, shows status, goes into maintenance and out, and `stop` drains it', async () => {
    const stateDir = path.join(site, 'state');
    const name = 'sea-worker';
    const t0 = Date.now();
    const worker = spawnProgram(
      binary,
      ['worker', '--api-url', server.url, '--name', name, '--state-dir', stateDir, '-q', 'q-sea', '-c', '1', '--registration-secret-file', secretFile,
        '--log-format', 'json', '--metrics-port', '0'],
      { cwd: site, env },
    );
    started.push(worker);
    await waitFor('the binary worker to register', () => worker.output().includes('registered'), 30_000, 5);
    const startMs = Date.now() - t0;
    // pino's JSON lines and the Prometheus endpoint work from inside the one file too.
    const lines = worker.output().trim().split('\n').map((l) => JSON.parse(l) as { msg: string; worker: string });
    assert.ok(lines.some((l) => l.msg.startsWith('registered') && l.worker === name), worker.output());
    const metricsUrl = lines.map((l) => /^metrics on (http:\S+)$/.exec(l.msg)?.[1]).find(Boolean)!;
    const metrics = await (await fetch(metricsUrl)).text();
    assert.match(metrics, /^edge_worker_slots_free 1$/m);
    await waitFor('the server to see it idle', async () => (await api.workers.getWorker({ name })).worker?.state === WorkerState.IDLE);
    const reported = (await api.workers.getWorker({ name })).worker!;
    assert.equal(reported.version, (await runEdge(['--version'])).stdout.match(/\/(\S+)/)![1]);

    const status = await runProgram(binary, ['status', '--name', name, '--state-dir', stateDir, '--json'], { cwd: site, env });
    assert.equal(status.code, 0, status.output);
    assert.equal(JSON.parse(status.output).name, name);

    const on = await runProgram(binary, ['maintenance', 'on', '--comment', 'one file', '--name', name, '--state-dir', stateDir, '--wait'], { cwd: site, env });
    assert.equal(on.code, 0, on.output);
    assert.equal((await api.workers.getWorker({ name })).worker?.state, WorkerState.MAINTENANCE_MODE);
    const off = await runProgram(binary, ['maintenance', 'off', '--name', name, '--state-dir', stateDir, '--wait'], { cwd: site, env });
    assert.equal(off.code, 0, off.output);

    // The job proves where it runs: no node on its PATH either.
    const script = 'echo from-the-one-file; command -v node || echo no-node-on-path; sleep 2; echo drained-to-the-end';
    const job = (await api.jobs.submitJob({ spec: { queue: 'q-sea', argv: ['sh', '-c', script] } })).job!;
    await waitFor('the job to run', async () => (await api.jobs.getJob({ id: job.id })).job?.state === JobState.RUNNING, 20_000);

    const stop = await runProgram(binary, ['stop', '--name', name, '--state-dir', stateDir], { cwd: site, env });
    assert.equal(stop.code, 0, stop.output);
    assert.match(stop.output, /stopped/);
    assert.equal(await worker.exited, 0, worker.output());

    const done = (await api.jobs.getJob({ id: job.id })).job!;
    assert.equal(done.state, JobState.SUCCEEDED, 'stop let the running job finish');
    const log = Buffer.from((await api.logs.readLogs({ jobId: job.id })).data).toString();
    assert.match(log, /from-the-one-file/);
    assert.match(log, /no-node-on-path/);
    assert.match(log, /drained-to-the-end/);
    assert.equal((await api.workers.getWorker({ name })).worker?.state, WorkerState.OFFLINE);
    console.log(`      single binary: ${(fs.statSync(binary).size / 2 ** 20).toFixed(1)} MiB; start to "registered" ${startMs} ms`);
  });

  it('connects over TLS to a server whose certificate a private CA signed (--ca), and runs a job', async () => {
    const certs = makeCertificates(tempDir('sea-tls'));
    fs.copyFileSync(certs.ca, path.join(site, 'ca.pem'));
    const tlsDb = await createSqliteDatabase();
    const tlsServer = await startServerProcess(tlsDb.url, ['--tls-cert', certs.cert, '--tls-key', certs.key]);
    const tlsApi = connectApi(tlsServer.url, TEST_ADMIN_TOKEN, { caFile: certs.ca });
    try {
      assert.match(tlsServer.url, /^https:/);
      const worker = spawnProgram(
        binary,
        ['worker', '--api-url', tlsServer.url, '--name', 'sea-tls', '--state-dir', path.join(site, 'state-tls'), '-q', 'q-tls', '--registration-secret-file', secretFile, '--ca', path.join(site, 'ca.pem')],
        { cwd: site, env },
      );
      started.push(worker);
      await waitFor('the binary worker to register over TLS', () => worker.output().includes('registered'), 30_000);
      const job = (await tlsApi.jobs.submitJob({ spec: { queue: 'q-tls', argv: ['sh', '-c', 'echo over-tls'] } })).job!;
      await waitFor('the job to succeed', async () => (await tlsApi.jobs.getJob({ id: job.id })).job?.state === JobState.SUCCEEDED, 20_000);
      assert.equal(await worker.stop('SIGTERM'), 0, worker.output());
    } finally {
      tlsApi.close();
      await tlsServer.stop('SIGTERM');
      await tlsDb.drop();
    }
  });

  it('idles in less memory than twice the node worker (figures in the test output)', async () => {
    const t0 = Date.now();
    const viaBinary = spawnProgram(
      binary,
      ['worker', '--api-url', server.url, '--name', 'rss-binary', '--state-dir', path.join(site, 'state-rss'), '-q', 'q-rss', '--registration-secret-file', secretFile],
      { cwd: site, env },
    );
    started.push(viaBinary);
    const viaNode = startWorkerProcess(server.url, { name: 'rss-node', queues: 'q-rss-node' });
    started.push(viaNode);
    const registered = (p: Program) => waitFor('a worker to register', () => p.output().includes('registered') && Date.now() - t0, 30_000, 5);
    const [binaryStartMs, nodeStartMs] = await Promise.all([registered(viaBinary), registered(viaNode)]);
    console.log(`      started side by side, to "registered": binary ${binaryStartMs} ms, node …/run.js ${nodeStartMs} ms`);
    await new Promise((r) => setTimeout(r, 3000)); // a few heartbeats: idle, not starting
    const rss = (pid: number) => Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
    const binaryMib = rss(viaBinary.pid);
    const nodeMib = rss(viaNode.pid);
    console.log(`      idle RSS: binary ${binaryMib.toFixed(1)} MiB, node …/run.js ${nodeMib.toFixed(1)} MiB`);
    assert.ok(binaryMib < nodeMib * 2, `binary ${binaryMib} MiB vs node ${nodeMib} MiB`);
    assert.equal(await viaBinary.stop('SIGTERM'), 0, viaBinary.output());
    assert.equal(await viaNode.stop('SIGTERM'), 0, viaNode.output());
  });
});
