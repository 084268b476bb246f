import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { toJson } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { JobSchema, JobState, type Job } from '../../gen/edge/v1/job_pb.js';
import { WatchJobsResponseSchema } from '../../gen/edge/v1/job_service_pb.js';
import { TokenKind } from '../../gen/edge/v1/token_service_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { SECRET_KEY_FILE } from '../../server/auth/secret-key.js';
import { DATABASES, tempDir, type TestDatabase } from '../helpers/databases.js';
import { runEdge, spawnEdge, startWorkerProcess, type Proc, type WorkerProc } from '../helpers/processes.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { inspectDatabase } from '../helpers/raw-database.js';
import { waitFor } from '../helpers/wait.js';

/** A value whose URL-encoded form differs from it (space, @, /, +). */
const SECRET = `p@ss w/rd+${randomBytes(12).toString('hex')}`;
/** Every form of it that must appear nowhere. */
const FORMS = [SECRET, Buffer.from(SECRET).toString('base64'), Buffer.from(SECRET).toString('base64url'), encodeURIComponent(SECRET)];
const MASK = '[masked]';
const QUEUE = 'secrets-q';

/** Fails naming the place and the form of the secret it holds. */
function assertNoSecret(where: string, text: string): void {
  for (const form of FORMS) assert.ok(!text.includes(form), `${where} holds the secret (${form === SECRET ? 'raw' : 'encoded'})`);
}

/** Prints the value's hash (so the test knows the job got it), then the value itself, raw, base64 and URL-encoded. */
const PRINT_JOB = `
const s = process.env.DB_PASSWORD;
console.log('sha256=' + require('crypto').createHash('sha256').update(s).digest('hex'));
console.log('raw=' + s);
console.log('b64=' + Buffer.from(s).toString('base64'));
console.log('url=' + encodeURIComponent(s));
console.log('env-has-no-other-secret=' + !Object.values(process.env).includes(process.env.EDGE_SECRET_KEY || '-'));
`;
/** Prints the value split at the 64 KiB mark of its output, in two writes 0.7 s apart (two pipe reads, two upload chunks). */
const SPLIT_JOB = `
const s = process.env.DB_PASSWORD;
process.stdout.write('x'.repeat(65536 - 5) + s.slice(0, 5), () => setTimeout(() => process.stdout.write(s.slice(5) + '\\nend\\n'), 700));
`;

for (const dbKind of DATABASES) {
  // SQLite: the key file the server makes in its data dir; MariaDB: EDGE_SECRET_KEY (replicas share it).
  const keyFromEnv = dbKind.name !== 'SQLite';
  describe(`job secrets end to end (${dbKind.name}, key from ${keyFromEnv ? 'EDGE_SECRET_KEY' : 'the key file'})`, function () {
    this.timeout(180_000);
    let db: TestDatabase;
    let server: Proc & { url: string };
    let worker: WorkerProc;
    let api: Api;
    let dataDir: string;
    const jobs: string[] = [];

    before(async () => {
      db = await dbKind.create();
      dataDir = tempDir('secrets-server');
      const env: Record<string, string> = keyFromEnv ? { EDGE_SECRET_KEY: randomBytes(32).toString('base64') } : {};
      // Failed jobs are purged after 2 s: the retention test watches their secrets go.
      const proc = spawnEdge(['server', '--port', '0', '--data-dir', dataDir, '--database', db.url, '--retain-failed', '2', '--purge-every', '1'], env);
      const url = await waitFor('the server to listen', () => /listening on (https?:\/\/\S+)/.exec(proc.output())?.[1], 30_000).catch((err: Error) => {
        throw new Error(`${err.message}: ${proc.output()}`);
      });
      server = { ...proc, url };
      api = connectApi(url, TEST_ADMIN_TOKEN);
      worker = startWorkerProcess(url, { name: `secrets-${dbKind.name}`, queues: QUEUE, concurrency: 2 });
      await waitFor('the worker to register', async () => (await api.workers.listWorkers({ pageSize: 10 })).workers.length === 1, 20_000);
    });

    after(async () => {
      api?.close();
      await worker?.stop('SIGTERM', 25_000);
      await server?.stop('SIGTERM');
      await db?.drop();
    });

    const edge = (args: string[], env: Record<string, string> = {}) => runEdge(args, { EDGE_API_URL: server.url, ...env });
    const ended = (id: string, client = api) =>
      waitFor(`job ${id} to end`, async () => {
        const { job } = await client.jobs.getJob({ id });
        return job && [JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED].includes(job.state) ? job : undefined;
      }, 60_000);
    async function logOf(id: string): Promise<string> {
      const parts: Buffer[] = [];
      let offset = 0n;
      for (;;) {
        const r = await api.logs.readLogs({ jobId: id, offset, maxBytes: 1 << 20 });
        parts.push(Buffer.from(r.data));
        if (!r.data.length || r.nextOffset >= r.size) break;
        offset = r.nextOffset;
      }
      return Buffer.concat(parts).toString();
    }
    async function submitWithSecret(script: string): Promise<Job> {
      const r = await edge(['job', 'submit', '-q', QUEUE, '--secret', 'DB_PASSWORD', '--json', '--', process.execPath, '-e', script], { DB_PASSWORD: SECRET });
      assert.equal(r.code, 0, r.stderr);
      assertNoSecret('the output of edge job submit', r.stdout + r.stderr);
      const job = JSON.parse(r.stdout) as { id: string; spec: { secretEnvNames?: string[]; secretEnv?: unknown } };
      assert.deepEqual(job.spec.secretEnvNames, ['DB_PASSWORD']);
      assert.equal(job.spec.secretEnv, undefined);
      jobs.push(job.id);
      return ended(job.id);
    }

    it('gives the job its secret as an environment variable and masks it, raw, base64 and URL-encoded, in the log', async () => {
      const job = await submitWithSecret(PRINT_JOB);
      assert.equal(job.state, JobState.SUCCEEDED, job.reason);
      const log = await logOf(job.id);
      const sha = (await import('node:crypto')).createHash('sha256').update(SECRET).digest('hex');
      assert.equal(log, `sha256=${sha}\nraw=${MASK}\nb64=${MASK}\nurl=${MASK}\nenv-has-no-other-secret=true\n`);
    });

    it('masks the secret split across the 64 KiB chunk boundary of the output', async () => {
      const job = await submitWithSecret(SPLIT_JOB);
      assert.equal(job.state, JobState.SUCCEEDED, job.reason);
      const log = await logOf(job.id);
      assert.equal(log, 'x'.repeat(65536 - 5) + `${MASK}\nend\n`);
      const { attempts } = await api.jobs.listJobAttempts({ jobId: job.id });
      assert.equal(attempts[0]!.logSize, BigInt(Buffer.byteLength(log)));
    });

    it('edge run --secret: the base64 of the secret printed by a shell job shows as [masked]', async () => {
      const r = await edge(['run', '-q', QUEUE, '--secret', 'DB_PASSWORD', '--', 'sh', '-c', 'printf %s "$DB_PASSWORD" | base64; echo "user=$DB_PASSWORD"'], { DB_PASSWORD: SECRET });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, `${MASK}\nuser=${MASK}\n`);
    });

    it('refuses a secret value given on the command line, before anything is sent', async () => {
      const r = await edge(['job', 'submit', '-q', QUEUE, '--secret', `DB_PASSWORD=${SECRET}`, '--', 'true']);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--secret takes a variable name, not NAME=VALUE/);
      assert.doesNotMatch(r.stderr, /at .+:\d+:\d+/);
    });

    it('keeps a secret of team A from team B, and gives team A the names only', async () => {
      const team = async (name: string) =>
        connectApi(server.url, (await api.tokens.createToken({ kind: TokenKind.ADMIN, name: `${name} ops`, team: name })).secret);
      const a = await team('team-a');
      const b = await team('team-b');
      try {
        const { job } = await a.jobs.submitJob({ spec: { queue: 'team-a-q', argv: ['true'], secretEnv: { API_KEY: SECRET } } });
        jobs.push(job!.id);
        assert.deepEqual(job!.spec!.secretEnvNames, ['API_KEY']);
        assert.deepEqual(job!.spec!.secretEnv, {});
        assertNoSecret("team A's GetJob", JSON.stringify(toJson(JobSchema, (await a.jobs.getJob({ id: job!.id })).job!)));
        await assert.rejects(b.jobs.getJob({ id: job!.id }), (err: unknown) => ConnectError.from(err).code === Code.NotFound);
        assert.equal((await b.jobs.listJobs({ pageSize: 1000 })).jobs.some((j) => j.id === job!.id), false);
        // The worker of no team never receives it: it stays queued for a worker of team A.
        assert.equal((await a.jobs.getJob({ id: job!.id })).job!.state, JobState.QUEUED);
      } finally {
        a.close();
        b.close();
      }
    });

    it('shows no secret value in any answer, page, CLI output, log, metric or database table', async () => {
      assert.ok(jobs.length >= 3);
      const seen: [string, string][] = [];
      for (const id of jobs) {
        const job = (await api.jobs.getJob({ id })).job!;
        assert.deepEqual(job.spec!.secretEnvNames.length, 1);
        seen.push([`GetJob ${id}`, JSON.stringify(toJson(JobSchema, job))]);
        const cli = await edge(['job', 'get', id, '--json']);
        assert.equal(cli.code, 0, cli.stderr);
        seen.push([`edge job get ${id} --json`, cli.stdout + cli.stderr]);
        const human = await edge(['job', 'get', id]);
        assert.match(human.stdout, /^secrets: +(DB_PASSWORD|API_KEY) \(values never shown\)$/m);
        seen.push([`edge job get ${id}`, human.stdout + human.stderr]);
      }
      seen.push(['ListJobs', JSON.stringify((await api.jobs.listJobs({ pageSize: 1000 })).jobs.map((j) => toJson(JobSchema, j)))]);
      const list = await edge(['job', 'list', '--json']);
      seen.push(['edge job list --json', list.stdout + list.stderr]);
      // WatchJobs from the start of the change log.
      const ac = new AbortController();
      const watched: string[] = [];
      try {
        for await (const res of api.jobs.watchJobs({ cursor: '0' }, { signal: ac.signal })) {
          watched.push(JSON.stringify(toJson(WatchJobsResponseSchema, res)));
          if (res.events.length) break;
        }
      } finally {
        ac.abort();
      }
      seen.push(['WatchJobs', watched.join('\n')]);
      // The web pages, signed in as an admin: the job list, each job's page and its log.
      const signin = await fetch(`${server.url}/ui/signin`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: server.url },
        body: new URLSearchParams({ token: TEST_ADMIN_TOKEN, next: '/ui/jobs' }).toString(),
      });
      const cookie = (signin.headers.get('set-cookie') ?? '').split(';')[0]!;
      assert.match(cookie, /^edge_session=/);
      const page = async (p: string) => {
        const r = await fetch(`${server.url}${p}`, { headers: { cookie }, redirect: 'manual' });
        assert.equal(r.status, 200, p);
        return r.text();
      };
      seen.push(['/ui/jobs', await page('/ui/jobs')]);
      for (const id of jobs) {
        const html = await page(`/ui/jobs/${id}`);
        assert.match(html, /id="job-secrets">(DB_PASSWORD|API_KEY) /);
        seen.push([`/ui/jobs/${id}`, html], [`/ui/jobs/${id}/log.txt`, await page(`/ui/jobs/${id}/log.txt`)]);
      }
      const metrics = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } });
      assert.equal(metrics.status, 200);
      seen.push(['/metrics', await metrics.text()]);
      seen.push(['the server log', server.output()], ['the worker log', worker.output()]);
      // Everything the worker keeps on disk (state dir: token, status, spool files).
      for (const file of fs.readdirSync(worker.stateDir, { recursive: true }) as string[]) {
        const full = path.join(worker.stateDir, file);
        if (fs.statSync(full).isFile()) seen.push([`worker file ${file}`, fs.readFileSync(full).toString('latin1')]);
      }
      for (const [where, text] of seen) assertNoSecret(where, text);
      await assertDatabaseHoldsNoSecret();
    });

    /** SELECT * on every table, every value as text (blobs as UTF-8 and Latin-1); for SQLite also the files. */
    async function assertDatabaseHoldsNoSecret(): Promise<void> {
      const knex = inspectDatabase(db.url);
      try {
        const tables =
          dbKind.name === 'SQLite'
            ? ((await knex.raw("SELECT name FROM sqlite_master WHERE type = 'table'")) as { name: string }[]).map((r) => r.name)
            : ((await knex.raw('SHOW TABLES'))[0] as Record<string, string>[]).map((r) => Object.values(r)[0]!);
        assert.ok(tables.includes('jobs') && tables.includes('log_chunks'), tables.join(','));
        let sealed = 0;
        for (const table of tables) {
          const rows = (await knex(table).select('*')) as Record<string, unknown>[];
          const text = rows
            .map((row) => Object.values(row).map((v) => (Buffer.isBuffer(v) ? `${v.toString('utf8')}\n${v.toString('latin1')}` : String(v))).join('\t'))
            .join('\n');
          assertNoSecret(`table ${table}`, text);
          if (table === 'jobs') sealed = rows.filter((r) => r.secret_env).length;
        }
        assert.ok(sealed >= 3, `the jobs table holds ${sealed} sealed secrets`);
      } finally {
        await knex.destroy();
      }
      if (dbKind.name === 'SQLite') {
        const file = new URL(db.url.replace(/^sqlite:/, 'file://')).pathname;
        for (const f of [file, `${file}-wal`]) if (fs.existsSync(f)) assertNoSecret(`the file ${path.basename(f)}`, fs.readFileSync(f).toString('latin1'));
        const keyFile = path.join(dataDir, SECRET_KEY_FILE);
        assert.equal(fs.statSync(keyFile).mode & 0o777, 0o600);
        assert.match(server.output(), /created the key for job secrets in .*secret-key/);
      } else {
        assert.equal(fs.existsSync(path.join(dataDir, SECRET_KEY_FILE)), false, 'with EDGE_SECRET_KEY no key file is made');
      }
    }

    it('deletes a job\'s sealed secrets with the job when its retention ends', async () => {
      const r = await edge(['job', 'submit', '-q', QUEUE, '--secret', 'DB_PASSWORD', '--', 'sh', '-c', 'exit 3'], { DB_PASSWORD: SECRET });
      assert.equal(r.code, 0, r.stderr);
      const id = r.stdout.trim();
      assert.equal((await ended(id)).state, JobState.FAILED);
      const knex = inspectDatabase(db.url);
      try {
        const row = (await knex('jobs').where({ id }).first()) as Record<string, unknown> | undefined;
        // Read right after the end: it may already be gone when the sweep ran at once.
        if (row) assert.match(String(row.secret_env), /^\{"v":1,"k":"[0-9a-f]{16}","s":\{"DB_PASSWORD":"[A-Za-z0-9+/=]+"\}\}$/);
        await waitFor('the failed job to be purged', async () => !(await knex('jobs').where({ id }).first()), 20_000, 200);
        assert.equal((await knex('jobs').where({ id }).first()) ?? null, null);
      } finally {
        await knex.destroy();
      }
      await assert.rejects(api.jobs.getJob({ id }), (err: unknown) => ConnectError.from(err).code === Code.NotFound);
    });
  });
}
