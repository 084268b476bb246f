import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { DATABASES, tempDir, type TestDatabase } from '../helpers/databases.js';
import { runEdge, spawnEdge, startServerProcess, startWorkerProcess, type ServerProc, type WorkerProc } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

/** oclif wraps error messages at the terminal width: match them as one line. */
const flat = (s: string) => s.replace(/\s*\n\s*(›\s*)?/g, ' ');

for (const dbKind of DATABASES) {
  describe(`edge job submit --file and edge job wait end to end (${dbKind.name})`, function () {
    this.timeout(180_000);
    let db: TestDatabase;
    let server: ServerProc;
    let api: Api;
    let worker: WorkerProc;
    const dir = tempDir('specs');

    before(async () => {
      db = await dbKind.create();
      server = await startServerProcess(db.url);
      api = connectApi(server.url, TEST_ADMIN_TOKEN);
      worker = startWorkerProcess(server.url, { name: `waiter-${dbKind.name}`, queues: 'wq', concurrency: 3 });
      await waitFor('the worker to register', async () => (await api.workers.listWorkers({ pageSize: 10 })).workers.length === 1, 20_000);
    });

    after(async () => {
      api?.close();
      await worker?.stop('SIGTERM');
      await server?.stop('SIGTERM');
      await db?.drop();
    });

    const edge = (args: string[]) => runEdge(args, { EDGE_API_URL: server.url });
    const write = (name: string, text: string) => {
      const file = path.join(dir, name);
      fs.writeFileSync(file, text);
      return file;
    };
    /** JSON Lines of `n` specs of a queue no worker serves, so they stay queued and can be counted. */
    const jsonl = (queue: string, n: number, override: Record<number, string> = {}) =>
      Array.from({ length: n }, (_, i) => override[i + 1] ?? JSON.stringify({ queue, argv: ['echo', String(i + 1)], labels: { n: String(i + 1) } })).join('\n') + '\n';
    async function idsOfQueue(queue: string): Promise<string[]> {
      const ids: string[] = [];
      let pageToken = '';
      do {
        const res = await api.jobs.listJobs({ queue, pageSize: 1000, pageToken });
        ids.push(...res.jobs.map((j) => j.id));
        pageToken = res.nextPageToken;
      } while (pageToken);
      return ids;
    }

    // Small batches (50) keep the files small: four batches prove the batching and its order as well as
    // four of 500 did, without the CPU of thousands of jobs.
    it('submits 200 specs from a JSON Lines file in batches and prints their ids in order', async () => {
      const file = write('200.jsonl', jsonl('bulk', 200));
      const r = await edge(['job', 'submit', '--file', file, '--batch-size', '50', '--json']);
      assert.equal(r.code, 0, r.stderr);
      const ids = JSON.parse(r.stdout) as string[];
      assert.equal(ids.length, 200);
      // Not a terminal: one plain progress line per batch.
      assert.deepEqual(r.stderr.trim().split('\n'), ['submitted 50/200 jobs', 'submitted 100/200 jobs', 'submitted 150/200 jobs', 'submitted 200/200 jobs']);
      assert.deepEqual(new Set(await idsOfQueue('bulk')), new Set(ids));
      // In file order: the n-th id is the job of the n-th line.
      for (const n of [1, 77, 200]) assert.equal((await api.jobs.getJob({ id: ids[n - 1]! })).job!.spec!.labels.n, String(n));
    });

    it('a broken line is reported with its number and nothing of the file is submitted', async () => {
      const file = write('broken.jsonl', jsonl('broken', 200, { 150: '{"argv": ["echo", "no closing brace"' }));
      const r = await edge(['job', 'submit', '--file', file, '--batch-size', '50']);
      assert.equal(r.code, 2, r.stderr);
      assert.match(flat(r.stderr), /broken\.jsonl:150: not a JSON object.*nothing was submitted/);
      assert.deepEqual(await idsOfQueue('broken'), []);

      const noArgv = write('noargv.jsonl', jsonl('broken', 5, { 4: '{"queue": "broken"}' }));
      const r2 = await edge(['job', 'submit', '--file', noArgv]);
      assert.equal(r2.code, 2, r2.stderr);
      assert.match(flat(r2.stderr), /noargv\.jsonl:4: argv is missing/);
      assert.deepEqual(await idsOfQueue('broken'), []);
    });

    it('a spec the server refuses stops at its batch: that batch is not submitted, the earlier ones are', async () => {
      const file = write('refused.jsonl', jsonl('refused', 120, { 70: JSON.stringify({ queue: 'no spaces allowed', argv: ['true'] }) }));
      const r = await edge(['job', 'submit', '--file', file, '--batch-size', '50', '--json']);
      assert.equal(r.code, 1, r.stderr);
      assert.match(flat(r.stderr), /batch 2 \(lines 51-100\) was refused, nothing of it submitted: .*refused\.jsonl:70: queue/);
      const ids = JSON.parse(r.stdout) as string[];
      assert.equal(ids.length, 50);
      assert.deepEqual(new Set(await idsOfQueue('refused')), new Set(ids));
    });

    it('reads YAML and names the line of a bad spec in it', async () => {
      const bad = write('bad.yaml', '- argv: [echo, one]\n  queue: yq\n- argv: [echo, two]\n  queue: yq\n  slots: many\n');
      const r = await edge(['job', 'submit', '--file', bad]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(flat(r.stderr), /bad\.yaml:3: cannot decode field edge\.v1\.JobSpec\.slots/);
      assert.deepEqual(await idsOfQueue('yq'), []);
    });

    it('edge job wait follows 3 jobs to their end through WatchJobs and exits non-zero if any failed', async () => {
      const file = write('three.yaml', [
        '- argv: [sh, -c, "sleep 1; echo a"]',
        '  queue: wq',
        '- argv: [sh, -c, "sleep 2; exit 4"]',
        '  queue: wq',
        '- {queue: wq, argv: [sh, -c, "sleep 1.5"]}',
        '',
      ].join('\n'));
      const submitted = await edge(['job', 'submit', '--file', file]);
      assert.equal(submitted.code, 0, submitted.stderr);
      const ids = submitted.stdout.trim().split('\n');
      assert.equal(ids.length, 3);
      const r = await edge(['job', 'wait', ...ids]);
      assert.equal(r.code, 1, r.stderr);
      const rows = r.stdout.trim().split('\n');
      assert.match(rows[0]!, /^ID\s+STATE\s+EXIT\s+WORKER\s+REASON$/);
      assert.match(rows[1]!, new RegExp(`^${ids[0]}\\s+SUCCEEDED\\s+0\\s+waiter-`));
      assert.match(rows[2]!, new RegExp(`^${ids[1]}\\s+FAILED\\s+4\\s+waiter-.*exited with code 4`));
      assert.match(rows[3]!, new RegExp(`^${ids[2]}\\s+SUCCEEDED\\s+0`));
      assert.match(rows[4]!, /^2 of 3 succeeded, 1 did not$/);
      // It waited for the ends, not for what was true when it started.
      for (const id of ids) assert.notEqual((await api.jobs.getJob({ id })).job!.state, JobState.RUNNING);

      const ok = await edge(['job', 'wait', '--json', ids[0]!, ids[2]!]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.deepEqual((JSON.parse(ok.stdout) as { state: string }[]).map((e) => e.state), ['SUCCEEDED', 'SUCCEEDED']);
    });

    it('edge job wait rides out a server restart: the watch resumes from its cursor and misses no end', async () => {
      const ids: string[] = [];
      for (const s of ['5', '6']) ids.push((await api.jobs.submitJob({ spec: { queue: 'wq', argv: ['sleep', s] } })).job!.id);
      const waiter = spawnEdge(['job', 'wait', ...ids], { EDGE_API_URL: server.url });
      await waitFor('both jobs to run', async () => {
        for (const id of ids) if ((await api.jobs.getJob({ id })).job!.state !== JobState.RUNNING) return false;
        return true;
      });
      // The waiter prints nothing before an end: give its watch time to be live before the restart.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      assert.equal(waiter.child.exitCode, null, waiter.output());
      const port = Number(new URL(server.url).port);
      api.close();
      assert.equal(await server.stop('SIGTERM'), 0);
      server = await startServerProcess(db.url, [], port);
      api = connectApi(server.url, TEST_ADMIN_TOKEN);
      assert.equal(await waiter.exited, 0, waiter.output());
      for (const id of ids) assert.match(waiter.output(), new RegExp(`^${id}\\s+SUCCEEDED\\s+0`, 'm'));
    });
  });
}
