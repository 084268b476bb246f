import assert from 'node:assert/strict';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { create } from '@bufbuild/protobuf';
import { JobState } from '../../../../gen/edge/v1/job_pb.js';
import { SystemInfoSchema, WorkerState } from '../../../../gen/edge/v1/worker_pb.js';
import {
  attemptToWire,
  jobEventToWire,
  jobStateFromWire,
  jobStateToWire,
  jobToWire,
  queueStatsToWire,
  systemInfoFromWire,
  workerSettings,
  workerStateFromWire,
  workerStateToWire,
  workerToWire,
} from '../../../../server/services/convert.js';
import { JOB_STATES, WORKER_STATES, type JobRecord, type WorkerRecord } from '../../../../server/domain/records.js';

const T = Date.UTC(2026, 0, 2, 3, 4, 5, 678);

const job = (over: Partial<JobRecord> = {}): JobRecord => ({
  id: '0192f0a4-0000-7000-8000-00000000000a',
  queue: 'q',
  argv: ['echo', 'hi'],
  env: { A: '1' },
  cwd: '/tmp',
  slots: 2,
  priority: 5,
  timeoutSeconds: 30,
  maxAttempts: 3,
  labels: { l: 'v' },
  state: 'FAILED',
  workerName: 'w1',
  attempt: 2,
  exitCode: null,
  signal: 'SIGKILL',
  reason: 'killed by SIGKILL',
  cancelRequested: false,
  notBefore: 0,
  queuedAt: T,
  createdAt: T,
  startedAt: T + 1000,
  endedAt: T + 2000,
  updatedAt: T + 2000,
  ...over,
});

const worker = (over: Partial<WorkerRecord> = {}): WorkerRecord => ({
  name: 'w1',
  state: 'RUNNING',
  queues: ['a', 'b'],
  concurrency: 3,
  version: '0.1.0',
  firstOnlineAt: T,
  lastHeartbeatAt: T + 10,
  jobIds: ['j1'],
  usedSlots: 2,
  startedAt: null,
  maintenance: true,
  maintenanceComment: { text: 'disk swap', author: 'ops', at: T + 5 },
  shutdownRequested: false,
  systemInfo: null,
  team: 't',
  ...over,
});

describe('convert: store records to wire messages and back', () => {
  it('maps every job and worker state both ways; UNSPECIFIED maps to nothing', () => {
    for (const s of JOB_STATES) assert.equal(jobStateFromWire(jobStateToWire(s)), s);
    for (const s of WORKER_STATES) assert.equal(workerStateFromWire(workerStateToWire(s)), s);
    assert.equal(jobStateToWire('SUCCEEDED'), JobState.SUCCEEDED);
    assert.equal(jobStateFromWire(JobState.UNSPECIFIED), undefined);
    assert.equal(workerStateFromWire(WorkerState.UNSPECIFIED), undefined);
    assert.equal(jobStateFromWire(99 as JobState), undefined);
  });

  it('puts a job\'s spec, outcome and times on the wire; absent values stay absent', () => {
    const j = jobToWire(job());
    assert.deepEqual(
      { ...j.spec, $typeName: undefined },
      { $typeName: undefined, queue: 'q', argv: ['echo', 'hi'], env: { A: '1' }, cwd: '/tmp', slots: 2, priority: 5, timeoutSeconds: 30, maxAttempts: 3, labels: { l: 'v' }, secretEnv: {}, secretEnvNames: [] },
    );
    assert.equal(j.state, JobState.FAILED);
    assert.equal(j.workerName, 'w1');
    assert.equal(j.exitCode, undefined);
    assert.equal(j.signal, 'SIGKILL');
    assert.equal(timestampMs(j.createTime!), T);
    assert.equal(timestampMs(j.startTime!), T + 1000);
    assert.equal(timestampMs(j.endTime!), T + 2000);
    assert.equal(j.team, '');

    const queued = jobToWire(job({ state: 'QUEUED', workerName: null, exitCode: null, signal: null, startedAt: null, endedAt: null, team: 'x' }));
    assert.equal(queued.workerName, '');
    assert.equal(queued.signal, '');
    assert.equal(queued.startTime, undefined);
    assert.equal(queued.endTime, undefined);
    assert.equal(queued.team, 'x');
    assert.equal(jobToWire(job({ exitCode: 0, signal: null })).exitCode, 0, 'exit code 0 is present, not absent');

    // Secrets go out as names only, whatever the record holds.
    const secret = jobToWire(job({ secretEnvNames: ['API_KEY', 'DB_PASSWORD'], sealedSecretEnv: '{"v":1,"k":"x","s":{}}' }));
    assert.deepEqual(secret.spec!.secretEnvNames, ['API_KEY', 'DB_PASSWORD']);
    assert.deepEqual(secret.spec!.secretEnv, {});
  });

  it('puts a worker on the wire with its free slots (never negative), maintenance comment and system info', () => {
    const w = workerToWire(worker());
    assert.equal(w.freeSlots, 1);
    assert.equal(w.state, WorkerState.RUNNING);
    assert.deepEqual(w.queues, ['a', 'b']);
    assert.equal(w.maintenanceComment?.text, 'disk swap');
    assert.equal(w.maintenanceComment?.author, 'ops');
    assert.equal(timestampMs(w.maintenanceComment!.time!), T + 5);
    assert.equal(w.startTime, undefined);
    assert.equal(w.systemInfo, undefined);
    assert.equal(workerToWire(worker({ concurrency: 1, usedSlots: 3 })).freeSlots, 0);
    assert.equal(workerToWire(worker({ maintenanceComment: null })).maintenanceComment, undefined);

    const s = workerSettings(worker({ shutdownRequested: true }));
    assert.deepEqual([s.queues, s.concurrency, s.maintenance, s.shutdownRequested, s.maintenanceComment?.text], [['a', 'b'], 3, true, true, 'disk swap']);
  });

  it('gives events their sequence as an opaque string cursor', () => {
    const e = jobEventToWire({ seq: 42, jobId: 'j', queue: 'q', kind: 'state', state: 'RUNNING', attempt: 1, workerName: null, exitCode: null, signal: null, reason: '', at: T });
    assert.equal(e.cursor, '42');
    assert.equal(e.state, JobState.RUNNING);
    assert.equal(e.workerName, '');
    assert.equal(timestampMs(e.time!), T);
  });

  it('says why each unplaceable job of a queue waits, and puts log sizes as 64-bit numbers', () => {
    const counts = { QUEUED: 3, ASSIGNED: 0, RUNNING: 1, SUCCEEDED: 7, FAILED: 2, CANCELED: 1 };
    const q = queueStatsToWire({ queue: 'gpu', counts, oldestQueuedAt: null, workers: 1, freeSlots: 1, maxWorkerSlots: 2, unplaceable: [{ jobId: 'j', slots: 4 }], unplaceableCount: 1 });
    assert.deepEqual([q.queued, q.running, q.succeeded, q.failed, q.canceled], [3, 1, 7, 2, 1]);
    assert.equal(q.oldestQueuedTime, undefined);
    assert.equal(q.unplaceable[0]!.reason, 'no worker of queue gpu has 4 slots (the largest has 2)');

    const a = attemptToWire({ jobId: 'j', attempt: 1, workerName: 'w', assignedAt: T, startedAt: null, endedAt: null, state: 'ASSIGNED', exitCode: null, signal: null, reason: '', logSize: 2 ** 40 });
    assert.equal(a.logSize, 2n ** 40n);
    assert.equal(a.startTime, undefined);
  });

  it('bounds what a worker reports about its machine: no NaN, no percent past 100, short strings', () => {
    assert.equal(systemInfoFromWire(undefined), undefined);
    const r = systemInfoFromWire(
      create(SystemInfoSchema, { cpuPercent: 250, cpuCount: Number.NaN, memoryTotalMib: Infinity, loadAverage: [1, 2, 3, 4, 5], os: 'x'.repeat(500), hostname: 'h' }),
    )!;
    assert.equal(r.cpuPercent, 100);
    assert.equal(r.cpuCount, 0);
    assert.equal(r.memoryTotalMib, 0);
    assert.deepEqual(r.loadAverage, [1, 2, 3]);
    assert.equal(r.os.length, 128);
    assert.equal(r.hostname, 'h');
    assert.equal(systemInfoFromWire(create(SystemInfoSchema, { cpuPercent: -3 }))!.cpuPercent, 0);
  });
});
