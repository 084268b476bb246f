import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { MessageInitShape } from '@bufbuild/protobuf';
import { JobState, type Job, type JobSpecSchema } from '../../gen/edge/v1/job_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { TEST_ADMIN_TOKEN } from './credentials.js';
import { tempDir } from './databases.js';
import { allJobs, attemptsOf, peakSlotsByWorker } from './attempts.js';
import { startServerProcess, startWorkerProcess, type ServerProc, type WorkerProc } from './processes.js';
import { waitFor } from './wait.js';

/** The stress run's fleet: 3 queues, workers of concurrency 3–4 serving one or two of them. */
export const STRESS_WORKERS = [
  { name: 'w1', queues: 'qa', concurrency: 4 },
  { name: 'w2', queues: 'qb', concurrency: 3 },
  { name: 'w3', queues: 'qa,qb', concurrency: 4 },
  { name: 'w4', queues: 'qc', concurrency: 3 },
  { name: 'w5', queues: 'qb,qc', concurrency: 4 },
  { name: 'w6', queues: 'qa,qc', concurrency: 3 },
];

/**
 * Job i of a stress run: mixed queues, slots 1–3 and priorities; it prints `job-i` and appends i to
 * `runsFile`, so the processes themselves show that no job ran twice, whatever the server recorded
 * (appends this small are atomic).
 */
export function stressSpec(i: number, runsFile: string): MessageInitShape<typeof JobSpecSchema> {
  return {
    queue: ['qa', 'qb', 'qc'][i % 3]!,
    argv: ['sh', '-c', 'printf "job-%s" "$1"; echo "$1" >> "$2"', 'stress-job', String(i), runsFile],
    slots: i % 7 === 0 ? 3 : i % 5 === 0 ? 2 : 1,
    priority: (i % 4) - 1,
    labels: { i: String(i) },
  };
}

export interface StressRun {
  servers: ServerProc[];
  apis: Api[];
  /** The ids of the jobs submitted, once submitted. */
  ids: string[];
  /** Jobs ended so far (from the queue statistics). */
  ended(): Promise<number>;
}

export interface StressOptions {
  /** One database URL per server replica (replicas may name the same database differently). */
  replicaUrls: string[];
  jobs: number;
  /** Runs beside the wait for the jobs to end, from just before the first submit; awaited before the checks. */
  during?: (run: StressRun) => Promise<void>;
  /**
   * A database node dies mid-run: a claim whose COMMIT the dying node may have made is never pushed
   * (the replica cannot know it happened) and goes back to its queue at the assign timeout, as the
   * design says lost work does. Such attempts are allowed, each checked never to have started: no job
   * runs twice either way.
   */
  unstartedRetries?: boolean;
}

const UNSTARTED = /^worker \S+ did not start attempt \d+ in time; queued again$/;

/**
 * Runs `jobs` short jobs through the replicas and STRESS_WORKERS (spread over the replicas), then checks
 * every invariant through the API: each job SUCCEEDED in exactly one attempt on a worker of its queue,
 * no worker over its concurrency, every log exact and complete.
 */
export async function runStress(opts: StressOptions): Promise<{ seconds: number; jobs: Job[] }> {
  const { replicaUrls, jobs: JOBS } = opts;
  const replicas = replicaUrls.length;
  const servers: ServerProc[] = [];
  const workers: WorkerProc[] = [];
  const apis: Api[] = [];
  try {
    // One after the other: the first runs the migrations.
    for (const url of replicaUrls) servers.push(await startServerProcess(url));
    for (const s of servers) apis.push(connectApi(s.url, TEST_ADMIN_TOKEN));
    STRESS_WORKERS.forEach((w, i) => workers.push(startWorkerProcess(servers[i % replicas]!.url, w)));
    await waitFor('all workers to connect', async () => {
      const list = (await apis[0]!.workers.listWorkers({})).workers;
      return list.filter((w) => w.state === WorkerState.IDLE).length === STRESS_WORKERS.length;
      // A process start takes seconds on a loaded machine.
    }, 60_000).catch((err: Error) => {
      const tails = [...servers, ...workers].map((p) => p.output().split('\n').slice(-5).join('\n')).join('\n---\n');
      throw new Error(`${err.message}; the processes said:\n${tails}`);
    });

    const ids: string[] = [];
    let statsApi = 0;
    const ended = async () => {
      // Through any replica that answers: a test may take one replica's database away.
      for (let k = 0; k < replicas; k++) {
        try {
          const stats = (await apis[(statsApi + k) % replicas]!.jobs.listQueueStats({})).queues;
          return stats.reduce((n, q) => n + q.succeeded + q.failed + q.canceled, 0);
        } catch {
          statsApi = (statsApi + 1) % replicas;
        }
      }
      return -1;
    };
    const runsFile = path.join(tempDir('stress-runs'), 'runs');
    fs.writeFileSync(runsFile, '');
    const started = Date.now();
    const during = opts.during?.({ servers, apis, ids, ended });
    for (let b = 0; b < JOBS / 100; b++) {
      const batch = Array.from({ length: 100 }, (_, k) => stressSpec(b * 100 + k, runsFile));
      const { jobs } = await apis[b % replicas]!.jobs.submitJobs({ specs: batch });
      ids.push(...jobs.map((j) => j.id));
    }
    // Seconds when the machine is free; far more while other suites share its two cores.
    await waitFor(`all ${JOBS} jobs to end`, async () => (await ended()) === JOBS, 240_000, 200);
    await during;
    const seconds = (Date.now() - started) / 1000;

    const runs = new Map<string, number>();
    for (const i of fs.readFileSync(runsFile, 'utf8').split('\n').filter(Boolean)) runs.set(i, (runs.get(i) ?? 0) + 1);
    assert.deepEqual([...runs].filter(([, n]) => n !== 1), [], 'no job ran twice');
    assert.equal(runs.size, JOBS, 'every job ran');

    const jobs = await allJobs(apis[replicas - 1]!);
    assert.equal(jobs.length, JOBS);
    assert.deepEqual(jobs.map((j) => j.id).sort(), [...ids].sort(), 'the jobs listed are the jobs submitted');
    const left = jobs.filter((j) => j.state !== JobState.SUCCEEDED).map((j) => `${j.id} ${JobState[j.state]} ${j.reason}`);
    assert.deepEqual(left, [], 'every job SUCCEEDED; nothing left QUEUED, ASSIGNED or RUNNING');
    const retried = jobs.filter((j) => j.attempt !== 1);
    /** `jobId#attempt` of the attempts that went back to their queue without starting. */
    const unstarted = new Set<string>();
    if (retried.length) {
      const history = await Promise.all(retried.map(async (j) => ({ j, attempts: (await apis[replicas - 1]!.jobs.listJobAttempts({ jobId: j.id, pageSize: 100 })).attempts })));
      // Which attempts, on which workers, ended how: what a failure here needs to be understood.
      const detail = history.slice(0, 10).map(({ j, attempts }) => `${j.id} (${j.spec!.queue}): ${attempts.map((a) => `#${a.attempt} ${a.workerName} ${JobState[a.state]} "${a.reason}"`).join(', ')}`);
      const allowed = opts.unstartedRetries && history.every(({ j, attempts }) => attempts.every((a) => a.attempt === j.attempt || (a.state === JobState.QUEUED && !a.startTime && UNSTARTED.test(a.reason))));
      if (!allowed) assert.fail(`every job ran in exactly one attempt, but ${retried.length} took more:\n${detail.join('\n')}`);
      for (const { j, attempts } of history) for (const a of attempts) if (a.attempt !== j.attempt) unstarted.add(`${j.id}#${a.attempt}`);
    }

    const attempts = await attemptsOf(apis[0]!, jobs);
    const ran = attempts.filter((a) => !unstarted.has(`${a.jobId}#${a.attempt}`));
    assert.equal(ran.length, JOBS, 'one attempt per job ran');
    assert.equal(attempts.length, JOBS + unstarted.size, 'every attempt is recorded');
    assert.equal(new Set(ran.map((a) => a.jobId)).size, JOBS);
    const served = new Map(STRESS_WORKERS.map((w) => [w.name, w.queues.split(',')]));
    const queueOf = new Map(jobs.map((j) => [j.id, j.spec!.queue]));
    for (const a of attempts) assert.ok(served.get(a.workerName)!.includes(queueOf.get(a.jobId)!), `job ${a.jobId} ran on a worker of its queue`);
    for (const [name, peak] of peakSlotsByWorker(attempts)) {
      const concurrency = STRESS_WORKERS.find((w) => w.name === name)!.concurrency;
      assert.ok(peak <= concurrency, `worker ${name} held ${peak} slots, more than its concurrency ${concurrency}`);
    }

    // Every log is there, complete, and the job's own.
    const label = new Map(jobs.map((j) => [j.id, j.spec!.labels.i]));
    for (let k = 0; k < ids.length; k += 50) {
      await Promise.all(
        ids.slice(k, k + 50).map(async (id, n) => {
          const log = await apis[(k + n) % replicas]!.logs.readLogs({ jobId: id });
          assert.equal(Buffer.from(log.data).toString(), `job-${label.get(id)}`);
          assert.equal(log.complete, true);
        }),
      );
    }
    return { seconds, jobs };
  } finally {
    await Promise.all(workers.map((w) => w.stop('SIGTERM', 15_000)));
    for (const a of apis) a.close();
    await Promise.all(servers.map((s) => s.stop('SIGTERM')));
  }
}
