import assert from 'node:assert/strict';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import type { JobEvent } from '../../gen/edge/v1/job_service_pb.js';
import type { Api } from '../../worker-cli/src/lib/api.js';
import type { KnexStore } from '../../server/store/knex-store.js';
import { openStore } from '../../server/store/open-store.js';
import { GaleraCluster } from '../helpers/galera-cluster.js';
import { runStress } from '../helpers/stress-driver.js';
import { waitFor } from '../helpers/wait.js';

const JOBS = 1000;

/**
 * The Galera tier: a three-node cluster on this machine, two server replicas preferring different
 * nodes, the stress run of test/e2e/stress.e2e.test.ts, and one node killed with SIGKILL mid-run.
 */
describe('on a three-node MariaDB Galera cluster', function () {
  // Its waits are bounded on their own (240 s, 30 s, 240 s, 30 s); the whole run takes 1–2 minutes on a quiet
  // machine but past 5 minutes while other suites load its two cores (seen at load 20).
  this.timeout(600_000);
  let cluster: GaleraCluster | undefined;

  before(async function () {
    this.timeout(150_000);
    cluster = await GaleraCluster.start();
  });

  after(async function () {
    this.timeout(90_000);
    await cluster?.stop();
  });

  it('runs 1,000 jobs through 2 replicas on different nodes with one node killed mid-run: nothing lost or doubled, the replica moves within 10 s, a resuming watcher sees every change once', async () => {
    const c = cluster!;
    const watched: JobEvent[] = [];
    const watchAbort = new AbortController();
    let moveMs = -1;
    let resumes = 0;
    let cursorAtKill = '';
    const { seconds, jobs } = await runStress({
      // Replica 0 prefers node1 (the one killed), replica 1 node2.
      replicaUrls: [c.url(1, 2, 3), c.url(2, 3, 1)],
      jobs: JOBS,
      unstartedRetries: true,
      during: async ({ apis, ended }) => {
        // The watcher starts from "now", before the first submit, on the replica that will lose its node.
        let cursor = await firstCursor(apis[0]!);
        let replica = 0;
        let resume: AbortController = new AbortController();
        const watching = (async () => {
          while (!watchAbort.signal.aborted) {
            try {
              for await (const res of apis[replica]!.jobs.watchJobs({ cursor }, { signal: resume.signal })) {
                watched.push(...res.events);
                cursor = res.cursor;
              }
            } catch {
              // The stream broke (its replica lost its database node) or was cut below: resume from the last cursor.
            }
            if (watchAbort.signal.aborted) break;
            resumes++;
            replica = (replica + 1) % apis.length;
            resume = new AbortController();
            await new Promise((r) => setTimeout(r, 100));
          }
        })();
        await waitFor('a third of the jobs to end', async () => (await ended()) >= JOBS / 3, 240_000, 100);
        await c.kill(1);
        const killedAt = Date.now();
        cursorAtKill = cursor;
        // The watcher resumes from its cursor on the other replica right after the loss, whether its stream broke or not.
        resume.abort();
        // Replica 0 used node1 only: answering again means it moved to another node.
        await waitFor('replica 0 to answer again through another node', async () => {
          try {
            await apis[0]!.jobs.listQueueStats({});
            return true;
          } catch {
            return false;
          }
        }, 30_000, 100);
        moveMs = Date.now() - killedAt;
        await waitFor('the jobs to end', async () => (await ended()) === JOBS, 240_000, 200);
        await waitFor('the watcher to see every job end', async () => watched.filter((e) => e.state === JobState.SUCCEEDED).length >= JOBS, 30_000, 100);
        watchAbort.abort();
        resume.abort();
        await watching;
      },
    });
    console.log(`      ${JOBS} jobs on Galera, node1 killed mid-run: ${seconds.toFixed(1)} s; replica 0 answered again ${moveMs} ms after the kill; watcher resumed ${resumes} time(s)`);
    assert.ok(moveMs >= 0 && moveMs < 10_000, `replica 0 moved to another node in ${moveMs} ms`);
    const before = watched.filter((e) => Number(e.cursor) <= Number(cursorAtKill)).length;
    assert.ok(before > 0 && before < watched.length, `the watcher saw ${before} changes before the node loss and ${watched.length - before} after it, resuming from cursor ${cursorAtKill}`);

    // Every change once, in log order: QUEUED, ASSIGNED, RUNNING, SUCCEEDED for every job (with QUEUED,
    // ASSIGNED once more for each attempt that went back unstarted: the stress run checked those).
    const cursors = watched.map((e) => Number(e.cursor));
    for (let i = 1; i < cursors.length; i++) assert.ok(cursors[i]! > cursors[i - 1]!, `cursor ${cursors[i]} after ${cursors[i - 1]}: seen twice or out of order`);
    const byJob = new Map<string, string[]>();
    for (const e of watched) byJob.set(e.jobId, [...(byJob.get(e.jobId) ?? []), JobState[e.state]]);
    assert.equal(byJob.size, JOBS, 'the watcher saw every job');
    const attempts = new Map(jobs.map((j) => [j.id, j.attempt]));
    const odd = [...byJob].filter(([id, states]) => states.join(',') !== `${'QUEUED,ASSIGNED,'.repeat(attempts.get(id) ?? 1)}RUNNING,SUCCEEDED`);
    assert.deepEqual(odd, [], 'every job seen QUEUED, ASSIGNED, RUNNING, SUCCEEDED, once each');
  });

  it('is left within 10 s: the store moves to the next node of its list and goes on writing', async () => {
    // After the test above node1 is gone (or, had it failed early, still there): either way node 2 keeps
    // the majority on its own once node 3 is cut off.
    const c = cluster!;
    // Weight 3 of at most 5.
    await c.sql(2, "SET GLOBAL wsrep_provider_options='pc.weight=3'");
    const store = openStore(c.url(3, 2)) as KnexStore;
    const port = async () => Number(((await store.knex.raw('SELECT @@port AS p')) as [Array<{ p: number }>])[0][0]!.p);
    try {
      await store.migrate();
      assert.equal(await port(), c.ports[2], 'the store starts on the first node of its list');
      // The node stays up and keeps its connections, but leaves the cluster: it is not ready for queries.
      await c.sql(3, "SET GLOBAL wsrep_provider_options='gmcast.isolate=1'");
      const cutAt = Date.now();
      await waitFor('the store to answer through node 2', async () => (await port().catch(() => 0)) === c.ports[1], 10_000, 100);
      const movedMs = Date.now() - cutAt;
      const job = await store.submitJob({ queue: 'q', argv: ['true'], env: {}, cwd: '', slots: 1, priority: 0, timeoutSeconds: 0, maxAttempts: 1, labels: {} }, Date.now());
      assert.equal((await store.getJob(job.id))?.state, 'QUEUED');
      console.log(`      node 3 cut off: the store answered through node 2 after ${movedMs} ms`);
    } finally {
      await store.close();
    }
  });
});

async function firstCursor(api: Api): Promise<string> {
  const ac = new AbortController();
  for await (const res of api.jobs.watchJobs({ cursor: '' }, { signal: ac.signal })) {
    ac.abort();
    return res.cursor;
  }
  throw new Error('the watch ended before its first message');
}
