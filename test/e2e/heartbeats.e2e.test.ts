import assert from 'node:assert/strict';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { MaintenanceChange } from '../../gen/edge/v1/worker_service_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { DATABASES, type TestDatabase } from '../helpers/databases.js';
import { startServerProcess, startWorkerProcess, type ServerProc, type WorkerProc } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

/** Heartbeat every second, lost after 3: the flush of heartbeats answered from memory runs every 300 ms. */
const FAST_SERVER = ['--heartbeat-interval', '1', '--worker-timeout', '3'];

async function heartbeatCounts(server: ServerProc): Promise<{ memory: number; store: number }> {
  const body = await (await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).text();
  const count = (answered: string) => Number(new RegExp(`^edge_worker_heartbeats_total\\{answered="${answered}"\\} (\\d+)$`, 'm').exec(body)?.[1] ?? 0);
  // Every heartbeat answered is timed too.
  const timed = Number(/^edge_rpc_duration_seconds_count\{service="edge\.v1\.WorkerService",method="Heartbeat"\} (\d+)$/m.exec(body)?.[1] ?? 0);
  assert.ok(timed >= count('memory') + count('store'), `heartbeats timed: ${timed}`);
  return { memory: count('memory'), store: count('store') };
}

/**
 * Heartbeats that change nothing are answered from memory and written in batches (issue 16): through
 * a real server and a real `edge worker`, the worker's liveness still reaches the database (read
 * through another replica on MariaDB), an operator's change still reaches the worker, a job runs to
 * its end while its heartbeats come from memory, and a killed worker is still found lost in time.
 */
for (const database of DATABASES) {
  describe(`heartbeats answered from memory, written in batches (${database.name})`, function () {
    this.timeout(90_000);
    let db: TestDatabase;
    const servers: ServerProc[] = [];
    const apis: Api[] = [];
    let worker: WorkerProc;

    before(async () => {
      db = await database.create();
      // Two replicas share MariaDB: the second one reads only what the first one wrote.
      for (let i = 0; i < (database.name === 'MariaDB' ? 2 : 1); i++) servers.push(await startServerProcess(db.url, FAST_SERVER));
      for (const s of servers) apis.push(connectApi(s.url, TEST_ADMIN_TOKEN));
      worker = startWorkerProcess(servers[0]!.url, { name: 'hb-1', queues: 'q-hb', concurrency: 2, args: ['--kill-grace', '1'] });
      await waitFor('the worker to connect', async () => (await apis[0]!.workers.getWorker({ name: 'hb-1' }).catch(() => undefined))?.worker?.state === WorkerState.IDLE);
    });
    after(async () => {
      worker.child.kill('SIGKILL');
      await worker.exited;
      for (const a of apis) a.close();
      for (const s of servers) {
        s.child.kill('SIGTERM');
        await s.exited;
      }
      await db.drop();
    });
    const reader = () => apis[apis.length - 1]!;

    it('answers most heartbeats from memory, yet the stored last-seen time keeps up within a flush', async () => {
      const before = await heartbeatCounts(servers[0]!);
      await new Promise((r) => setTimeout(r, 3500));
      const after = await heartbeatCounts(servers[0]!);
      assert.ok(after.memory - before.memory >= 2, `heartbeats answered from memory: ${JSON.stringify({ before, after })}`);
      assert.ok(after.store - before.store <= 1, `an idle worker's heartbeats need no store round trip: ${JSON.stringify({ before, after })}`);
      const seen = Number((await reader().workers.getWorker({ name: 'hb-1' })).worker!.lastHeartbeatTime!.seconds) * 1000;
      // A heartbeat a second, written every 300 ms: what another replica reads is at most about 1.3 s old.
      assert.ok(Date.now() - seen < 2500, `the stored last heartbeat is ${Date.now() - seen} ms old`);
    });

    it('runs a job to its end while heartbeats come from memory, and brings an operator change to the worker', async () => {
      const { job } = await reader().jobs.submitJob({ spec: { queue: 'q-hb', argv: ['sh', '-c', 'sleep 3; echo done'] } });
      await waitFor('the job to succeed', async () => (await reader().jobs.getJob({ id: job!.id })).job!.state === JobState.SUCCEEDED, 30_000);
      await reader().workers.setWorkerMaintenance({ name: 'hb-1', change: MaintenanceChange.ENTER, comment: 'disk swap', author: 'ops' });
      await waitFor('the worker to act on it', async () => (await reader().workers.getWorker({ name: 'hb-1' })).worker!.state === WorkerState.MAINTENANCE_MODE, 15_000);
      await reader().workers.setWorkerMaintenance({ name: 'hb-1', change: MaintenanceChange.EXIT });
      await waitFor('the worker back', async () => (await reader().workers.getWorker({ name: 'hb-1' })).worker!.state === WorkerState.IDLE, 15_000);
    });

    it('still finds a killed worker lost within its timeout', async () => {
      worker.child.kill('SIGKILL');
      await worker.exited;
      const t0 = Date.now();
      await waitFor('the worker to be presumed lost', async () => (await reader().workers.getWorker({ name: 'hb-1' })).worker!.state === WorkerState.UNKNOWN, 15_000, 100);
      // Timeout 3 s after its last heartbeat, found by a sweep every second.
      assert.ok(Date.now() - t0 < 5500, `found lost after ${Date.now() - t0} ms`);
    });
  });
}
