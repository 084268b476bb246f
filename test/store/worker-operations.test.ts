import assert from 'node:assert/strict';
import { StoreError } from '../../server/store/errors.js';
import { openStore } from '../../server/store/open-store.js';
import type { SystemInfoRecord } from '../../server/domain/records.js';
import type { Store } from '../../server/store/store.js';
import { DATABASES, type TestDatabase } from '../helpers/databases.js';

const INFO: SystemInfoRecord = {
  cpuPercent: 12.5,
  cpuCount: 4,
  memoryTotalMib: 8000,
  memoryAvailableMib: 4000,
  diskFreeMib: 1000,
  diskTotalMib: 2000,
  loadAverage: [0.5, 0.25, 0.1],
  os: 'Linux 6.1',
  arch: 'x64',
  nodeVersion: 'v20.0.0',
  hostname: 'h1',
};

async function conflict(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof StoreError && err.kind === 'conflict', `expected a conflict, got ${String(err)}`);
    return err.message;
  }
  throw new Error('expected a conflict');
}

for (const db of DATABASES) {
  describe(`worker operations in the store on ${db.name}`, function () {
    let database: TestDatabase;
    let store: Store;
    let now = 5_000_000;
    const tick = () => ++now;
    const register = (name: string) => store.registerWorker({ name, queues: ['a'], concurrency: 2, version: '0.1.0', systemInfo: INFO }, tick());

    beforeEach(async () => {
      database = await db.create();
      store = openStore(database.url);
      await store.migrate();
    });

    afterEach(async () => {
      await store.close();
      await database.drop();
    });

    it('keeps system info and the start time of the current process', async () => {
      const w = await register('w');
      assert.deepEqual(w.systemInfo, INFO);
      assert.equal(w.startedAt, now);
      const later = (await store.heartbeat('w', 'IDLE', tick(), { systemInfo: { ...INFO, cpuPercent: 99 } }))!.worker;
      assert.equal(later!.systemInfo!.cpuPercent, 99);
      assert.equal(later!.startedAt, w.startedAt);
    });

    /** 502 workers (more than one statement's worth): fleet-1 wished into maintenance, fleet-2 asked to shut down, fleet-3 said goodbye. */
    async function fleetWithWishes(): Promise<string[]> {
      const names = Array.from({ length: 502 }, (_, i) => `fleet-${i}`);
      await Promise.all(names.map(register));
      await store.setWorkerMaintenance({ name: 'fleet-1', change: 'enter', comment: 'disk', author: 'ops' }, tick());
      await store.requestWorkerShutdown('fleet-2', tick());
      await store.heartbeat('fleet-3', 'OFFLINE', tick());
      return names;
    }

    it('writes buffered heartbeats in one go: each row its own time and sample, its state as the operator wishes, goodbyes left alone', async () => {
      const names = await fleetWithWishes();
      const at = tick();
      // 501 IDLE: more than one statement's worth; one RUNNING.
      await store.recordHeartbeats(names.map((name, i) => ({ name, reported: i === 5 ? 'RUNNING' : 'IDLE', at: at + i, systemInfo: i === 7 ? { ...INFO, cpuPercent: 77 } : undefined })));
      const all = new Map((await store.listWorkers(2000)).map((w) => [w.name, w]));
      assert.equal(all.get('fleet-0')!.state, 'IDLE');
      assert.equal(all.get('fleet-1')!.state, 'MAINTENANCE_REQUEST', 'maintenance wished and not yet acted on');
      assert.equal(all.get('fleet-2')!.state, 'SHUTDOWN_REQUEST');
      assert.equal(all.get('fleet-3')!.state, 'OFFLINE', 'a worker that said goodbye stays gone');
      assert.equal(all.get('fleet-5')!.state, 'RUNNING');
      assert.equal(all.get('fleet-501')!.lastHeartbeatAt, at + 501);
      assert.equal(all.get('fleet-300')!.lastHeartbeatAt, at + 300);
      assert.equal(all.get('fleet-7')!.systemInfo!.cpuPercent, 77);
      assert.equal(all.get('fleet-8')!.systemInfo!.cpuPercent, INFO.cpuPercent, 'no sample, the stored one stays');
      await store.recordHeartbeats([{ name: 'nobody', reported: 'IDLE', at: tick() }]);
      assert.equal(await store.getWorker('nobody'), undefined, 'an unknown (or removed) worker is not created');
    });

    it('answers a batch of heartbeats as it answers each: states, holdings, revocations, goodbyes and unknown workers', async () => {
      const names = await fleetWithWishes();
      const job = await store.submitJob({ queue: 'a', argv: ['true'], env: {}, cwd: '', slots: 1, priority: 0, timeoutSeconds: 0, maxAttempts: 1, labels: {} }, tick());
      const { assigned } = await store.claimJobs('fleet-4', tick(), 1);
      assert.equal(assigned.length, 1);
      const at = tick();
      const beats = names.map((name, i) => ({ name, reported: 'IDLE' as const, at: at + i, held: i === 5 ? [{ jobId: job.id, attempt: 1 }] : [] }));
      const out = await store.heartbeats([...beats, { name: 'nobody', reported: 'IDLE', at }]);
      const result = (i: number) => {
        const r = out[i]!;
        assert.ok(typeof r === 'object', `fleet-${i}: ${String(r)}`);
        return r;
      };
      assert.equal(result(0).worker.state, 'IDLE');
      assert.equal(result(0).worker.lastHeartbeatAt, at);
      assert.equal(result(501).worker.lastHeartbeatAt, at + 501, 'past the first statement of the batch');
      assert.equal(result(1).worker.state, 'MAINTENANCE_REQUEST');
      assert.equal(result(2).worker.state, 'SHUTDOWN_REQUEST');
      assert.equal(out[3], 'offline', 'a worker that said goodbye must register again');
      assert.equal(result(4).worker.state, 'RUNNING', 'holding a job, whatever it says');
      assert.deepEqual(result(4).holding, [{ jobId: job.id, attempt: 1 }]);
      assert.deepEqual(result(4).worker.jobIds, [job.id]);
      assert.equal(result(4).worker.usedSlots, 1);
      assert.deepEqual(result(5).revoked, [{ jobId: job.id, attempt: 1 }], 'a job it does not hold is revoked');
      assert.equal(out[502], 'unknown');
      // The same heartbeat, one by one, answers the same.
      const single = (await store.heartbeat('fleet-4', 'IDLE', at + 4))!;
      assert.deepEqual({ ...single.worker, updatedAt: undefined }, { ...result(4).worker, updatedAt: undefined });
      assert.equal((await store.getWorker('fleet-3'))!.state, 'OFFLINE');
    });

    it('walks maintenance through request, pending, mode, exit; the comment keeps who and when', async () => {
      await register('w');
      let w = await store.setWorkerMaintenance({ name: 'w', change: 'enter', comment: 'disk swap', author: 'ann@ops' }, tick());
      assert.equal(w.state, 'MAINTENANCE_REQUEST');
      assert.deepEqual(w.maintenanceComment, { text: 'disk swap', author: 'ann@ops', at: now });
      w = (await store.heartbeat('w', 'RUNNING', tick()))!.worker;
      assert.equal(w.state, 'MAINTENANCE_REQUEST', 'a worker that has not heard of it yet stays requested');
      w = (await store.heartbeat('w', 'MAINTENANCE_PENDING', tick()))!.worker;
      assert.equal(w.state, 'MAINTENANCE_PENDING');
      w = (await store.heartbeat('w', 'MAINTENANCE_MODE', tick()))!.worker;
      assert.equal(w.state, 'MAINTENANCE_MODE');
      w = await store.setWorkerMaintenance({ name: 'w', change: 'comment', comment: 'until 15:00', author: 'bob@ops' }, tick());
      assert.equal(w.maintenanceComment!.text, 'until 15:00');
      assert.equal(w.maintenanceComment!.author, 'bob@ops');
      w = await store.setWorkerMaintenance({ name: 'w', change: 'exit', comment: '', author: 'bob@ops' }, tick());
      assert.equal(w.state, 'MAINTENANCE_EXIT');
      assert.equal(w.maintenance, false);
      assert.equal(w.maintenanceComment, null);
      w = (await store.heartbeat('w', 'IDLE', tick()))!.worker;
      assert.equal(w.state, 'IDLE');
      assert.match(await conflict(store.setWorkerMaintenance({ name: 'w', change: 'comment', comment: 'x', author: '' }, tick())), /not in maintenance/);
    });

    it('keeps maintenance across a restart and gives a maintained worker no job', async () => {
      await register('w');
      await store.setWorkerMaintenance({ name: 'w', change: 'enter', comment: 'hold', author: 'ann' }, tick());
      await store.heartbeat('w', 'OFFLINE', tick());
      const again = await register('w');
      assert.equal(again.state, 'MAINTENANCE_REQUEST');
      assert.equal(again.maintenance, true);
      await store.submitJob({ queue: 'a', argv: ['true'], env: {}, cwd: '', slots: 1, priority: 0, timeoutSeconds: 0, maxAttempts: 1, labels: {} }, tick());
      assert.deepEqual((await store.claimJobs('w', tick(), 10)).assigned, []);
    });

    it('changes queues and concurrency, and refuses to leave a worker without a queue', async () => {
      await register('w');
      let w = await store.updateWorker({ name: 'w', addQueues: ['b', 'c'], removeQueues: ['a'], concurrency: 5 }, tick());
      assert.deepEqual(w.queues, ['b', 'c']);
      assert.equal(w.concurrency, 5);
      assert.match(await conflict(store.updateWorker({ name: 'w', addQueues: [], removeQueues: ['b', 'c'] }, tick())), /no queue/);
      w = (await store.getWorker('w'))!;
      assert.deepEqual(w.queues, ['b', 'c']);
    });

    it('requests shutdown of a live worker only, clears it on the next registration, removes only gone workers', async () => {
      await register('w');
      assert.match(await conflict(store.removeWorker('w')), /only OFFLINE or UNKNOWN/);
      let w = await store.requestWorkerShutdown('w', tick());
      assert.equal(w.state, 'SHUTDOWN_REQUEST');
      assert.equal(w.shutdownRequested, true);
      w = (await store.heartbeat('w', 'IDLE', tick()))!.worker;
      assert.equal(w.state, 'SHUTDOWN_REQUEST');
      w = (await store.heartbeat('w', 'OFFLINE', tick()))!.worker;
      assert.equal(w.state, 'OFFLINE');
      assert.match(await conflict(store.requestWorkerShutdown('w', tick())), /no process/);
      assert.equal((await register('w')).shutdownRequested, false);
      await store.heartbeat('w', 'OFFLINE', tick());
      assert.equal((await store.removeWorker('w')).name, 'w');
      assert.equal(await store.getWorker('w'), undefined);
    });

    it('lists workers by state and counts jobs, queues and workers for metrics', async () => {
      await register('w1');
      await register('w2');
      await store.setWorkerMaintenance({ name: 'w2', change: 'enter', comment: 'x', author: 'y' }, tick());
      assert.deepEqual((await store.listWorkers(10, undefined, ['MAINTENANCE_REQUEST'])).map((w) => w.name), ['w2']);
      const created = tick();
      const spec = { queue: 'q', argv: ['true'], env: {}, cwd: '', slots: 1, priority: 0, timeoutSeconds: 0, maxAttempts: 1, labels: {} };
      await store.submitJob(spec, created);
      await store.submitJob(spec, tick());
      const m = await store.metricsSnapshot();
      assert.deepEqual(m.jobs, [{ state: 'QUEUED', queue: 'q', count: 2 }]);
      assert.deepEqual(m.queues, [{ queue: 'q', depth: 2, oldestCreatedAt: created }]);
      assert.deepEqual(
        [...m.workers].sort((a, b) => a.state.localeCompare(b.state)),
        [{ state: 'MAINTENANCE_REQUEST', count: 1 }, { state: 'STARTING', count: 1 }],
      );
    });
  });
}
