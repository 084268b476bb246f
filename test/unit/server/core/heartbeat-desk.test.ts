import assert from 'node:assert/strict';
import { HeartbeatDesk } from '../../../../server/core/heartbeat-desk.js';
import type { HeartbeatResult, HeldAttempt, WorkerRecord, WorkerStateName } from '../../../../server/domain/records.js';
import type { BufferedHeartbeat, Store, StoreHeartbeat, StoreHeartbeatOutcome } from '../../../../server/store/store.js';
import { StoreError } from '../../../../server/store/errors.js';
import { waitFor } from '../../../helpers/wait.js';

const workerRecord = (name: string, state: WorkerStateName, over: Partial<WorkerRecord> = {}): WorkerRecord => ({
  name, state, queues: ['q'], concurrency: 2, version: '1', firstOnlineAt: 0, lastHeartbeatAt: 0, jobIds: [], usedSlots: 0, startedAt: 0,
  maintenance: false, maintenanceComment: null, shutdownRequested: false, systemInfo: null, team: '', ...over,
});

/** The store's side of heartbeats, in memory: what the desk wrote at once and what it wrote in batches. */
class FakeStore {
  readonly written: string[] = [];
  /** Writes at once and batch writes, in the order they reached the store. */
  readonly order: string[] = [];
  readonly flushed: BufferedHeartbeat[][] = [];
  holding: HeldAttempt[] = [];
  stored = new Map<string, WorkerRecord>();
  failFlush = false;
  /** While set, a heartbeat written at once waits for it. */
  gate: Promise<void> | undefined;

  async heartbeat(name: string, state: WorkerStateName, now: number, report: { held?: HeldAttempt[] }): Promise<HeartbeatResult | undefined> {
    this.written.push(`${name}:${state}`);
    this.order.push(`${name}:${state}`);
    await this.gate;
    const w = this.stored.get(name);
    if (!w) return undefined;
    const current = new Map(this.holding.map((h) => [h.jobId, h.attempt]));
    const squared = state === 'IDLE' && this.holding.length ? 'RUNNING' : state === 'RUNNING' && !this.holding.length ? 'IDLE' : state;
    const worker = { ...w, state: w.maintenance ? 'MAINTENANCE_REQUEST' : squared, lastHeartbeatAt: now, jobIds: this.holding.map((h) => h.jobId) } as WorkerRecord;
    this.stored.set(name, worker);
    return { worker, holding: this.holding, revoked: (report.held ?? []).filter((h) => current.get(h.jobId) !== h.attempt) };
  }

  /** The sizes of the batches the desk asked the store to answer. */
  readonly batches: number[] = [];

  async heartbeats(beats: StoreHeartbeat[]): Promise<StoreHeartbeatOutcome[]> {
    this.batches.push(beats.length);
    const out: StoreHeartbeatOutcome[] = [];
    for (const b of beats) {
      if (this.stored.get(b.name)?.state === 'OFFLINE') {
        out.push('offline');
        continue;
      }
      out.push((await this.heartbeat(b.name, b.reported, b.at, { held: b.held })) ?? 'unknown');
    }
    return out;
  }

  /** While set, a batch write waits for it. */
  flushGate: Promise<void> | undefined;

  async recordHeartbeats(beats: BufferedHeartbeat[]): Promise<void> {
    if (this.failFlush) throw new Error('database down');
    await this.flushGate;
    this.flushed.push(beats);
    this.order.push(`flushed ${beats.map((b) => b.name).join(',')}`);
  }
}

describe('HeartbeatDesk: heartbeats that change nothing answered from memory, written in batches', () => {
  let store: FakeStore;
  let desk: HeartbeatDesk;
  let connected: boolean;
  const errors: string[] = [];
  beforeEach(() => {
    store = new FakeStore();
    store.stored.set('w', workerRecord('w', 'STARTING'));
    connected = true;
    desk = new HeartbeatDesk({ store: store as unknown as Store, connected: () => connected, log: (m) => errors.push(m), flushMs: 20 });
  });
  afterEach(() => desk.close());
  const beat = (reported: WorkerStateName, now: number, held: HeldAttempt[] = []) => desk.beat({ name: 'w', reported, held, now });

  it('asks the store for the first heartbeat and for a change of state, answers the rest from memory, then writes them at once', async () => {
    assert.equal((await beat('IDLE', 1))!.fromMemory, false, 'the first heartbeat reads the store');
    const second = (await beat('IDLE', 2))!;
    assert.equal(second.fromMemory, true);
    assert.equal(second.worker.lastHeartbeatAt, 2);
    assert.equal((await beat('IDLE', 3))!.fromMemory, true);
    assert.deepEqual(store.written, ['w:IDLE']);
    await waitFor('the flush', async () => store.flushed.length === 1);
    assert.deepEqual(store.flushed[0], [{ name: 'w', reported: 'IDLE', at: 3, systemInfo: undefined }], 'one row per worker, its latest time');
    assert.equal((await beat('TERMINATING', 4))!.fromMemory, false, 'a change of state is written at once');
    assert.deepEqual(store.written, ['w:IDLE', 'w:TERMINATING']);
  });

  it('asks the store for the heartbeats that wait for it in batches: all that arrived while the batch before ran, one per worker', async () => {
    for (let i = 0; i < 300; i++) store.stored.set(`w${i}`, workerRecord(`w${i}`, 'STARTING'));
    store.stored.set('gone', workerRecord('gone', 'OFFLINE'));
    let open!: () => void;
    store.gate = new Promise((r) => (open = r));
    const first = desk.beat({ name: 'w0', reported: 'IDLE', held: [], now: 1 });
    const rest = Array.from({ length: 299 }, (_, i) => desk.beat({ name: `w${i + 1}`, reported: 'IDLE', held: [], now: 1 }));
    const again = desk.beat({ name: 'w5', reported: 'IDLE', held: [], now: 2 });
    const unknown = desk.beat({ name: 'nobody', reported: 'IDLE', held: [], now: 1 });
    const offline = desk.beat({ name: 'gone', reported: 'IDLE', held: [], now: 1 });
    await new Promise((r) => setImmediate(r));
    open();
    store.gate = undefined;
    assert.equal((await first)!.worker.state, 'IDLE');
    const answers = await Promise.all(rest);
    assert.ok(answers.every((a, i) => a!.worker.name === `w${i + 1}` && a!.worker.state === 'IDLE' && !a!.fromMemory));
    assert.equal((await again)!.worker.lastHeartbeatAt, 2);
    assert.equal(await unknown, undefined);
    await assert.rejects(offline, (e: unknown) => e instanceof StoreError && e.kind === 'conflict');
    assert.deepEqual(store.batches, [1, 301, 1], 'the first alone, then all that waited, then the second heartbeat of w5');
  });

  it('leaves to the store a job it does not know the worker holds, so only the store revokes', async () => {
    store.holding = [{ jobId: 'j1', attempt: 1 }];
    await beat('RUNNING', 1, [{ jobId: 'j1', attempt: 1 }]);
    assert.equal((await beat('RUNNING', 2, [{ jobId: 'j1', attempt: 1 }]))!.fromMemory, true);
    const other = (await beat('RUNNING', 3, [{ jobId: 'j1', attempt: 2 }]))!;
    assert.equal(other.fromMemory, false, 'another attempt of the job goes to the store');
    assert.deepEqual(other.revoked, [{ jobId: 'j1', attempt: 2 }]);
    const unknown = (await beat('RUNNING', 4, [{ jobId: 'j9', attempt: 1 }, { jobId: 'j1', attempt: 1 }]))!;
    assert.equal(unknown.fromMemory, false);
    assert.deepEqual(unknown.revoked, [{ jobId: 'j9', attempt: 1 }]);
  });

  it('reads the store again after an event about the worker, even one that lands while the store answers', async () => {
    await beat('IDLE', 1);
    desk.forget('w');
    assert.equal((await beat('IDLE', 2))!.fromMemory, false);
    let open!: () => void;
    store.gate = new Promise((r) => (open = r));
    const slow = beat('TERMINATING', 3);
    await waitFor('the store call', async () => store.written.length === 3);
    desk.forget('w'); // e.g. an operator's change committed while the heartbeat was being written
    open();
    store.gate = undefined;
    await slow;
    assert.equal((await beat('TERMINATING', 4))!.fromMemory, false, 'what the store said before the event is not kept');
    assert.equal((await beat('TERMINATING', 5))!.fromMemory, true);
  });

  it('reads the store again after an event about a job it holds that names no worker (handed back elsewhere)', async () => {
    store.holding = [{ jobId: 'j1', attempt: 1 }];
    await beat('RUNNING', 1, [{ jobId: 'j1', attempt: 1 }]);
    desk.forgetJob('j-other');
    assert.equal((await beat('RUNNING', 2, [{ jobId: 'j1', attempt: 1 }]))!.fromMemory, true);
    desk.forgetJob('j1'); // requeued by another replica's sweep: its event names no worker
    store.holding = [];
    const answer = (await beat('RUNNING', 3, [{ jobId: 'j1', attempt: 1 }]))!;
    assert.equal(answer.fromMemory, false);
    assert.deepEqual(answer.revoked, [{ jobId: 'j1', attempt: 1 }], 'the worker is told to stop it');
  });

  it('never answers from memory for a worker whose stream is elsewhere, nor for OFFLINE', async () => {
    await beat('IDLE', 1);
    connected = false;
    assert.equal((await beat('IDLE', 2))!.fromMemory, false);
    connected = true;
    await beat('IDLE', 3);
    assert.equal((await beat('OFFLINE', 4))!.fromMemory, false);
  });

  it('keeps the heartbeats of a failed write for the next one, unless a newer came meanwhile', async () => {
    await beat('IDLE', 1);
    store.failFlush = true;
    await beat('IDLE', 2);
    await waitFor('a failed flush', async () => errors.length > 0);
    store.failFlush = false;
    await waitFor('the retried flush', async () => store.flushed.length === 1);
    assert.equal(store.flushed[0]![0]!.at, 2);
  });

  it('holds a heartbeat for the store behind a running batch write only when that write holds the same worker', async () => {
    store.stored.set('a', workerRecord('a', 'STARTING'));
    await desk.beat({ name: 'a', reported: 'IDLE', held: [], now: 1 });
    await beat('IDLE', 1);
    let open!: () => void;
    store.flushGate = new Promise((r) => (open = r));
    await desk.beat({ name: 'a', reported: 'IDLE', held: [], now: 2 }); // from memory: pending for the next write
    await waitFor('the write of a to start', async () => (desk as unknown as { writing?: Map<string, unknown> }).writing?.has('a') === true);
    desk.forget('w');
    desk.forget('a');
    assert.equal((await beat('IDLE', 3))!.fromMemory, false, 'w is not in the running write: answered by the store at once');
    const a = desk.beat({ name: 'a', reported: 'IDLE', held: [], now: 3 });
    await new Promise((r) => setTimeout(r, 30));
    assert.deepEqual(store.order.slice(-1), ['w:IDLE'], "a's heartbeat waits for the write that holds its older one");
    open();
    store.flushGate = undefined;
    await a;
    assert.deepEqual(store.order.slice(-2), ['flushed a', 'a:IDLE'], 'the older heartbeat lands first');
  });

  it('shows the time of a heartbeat not yet written, and writes everything on close', async () => {
    await beat('IDLE', 1);
    await beat('IDLE', 7);
    assert.equal(desk.latest(workerRecord('w', 'IDLE', { lastHeartbeatAt: 1 })).lastHeartbeatAt, 7);
    const closing = new HeartbeatDesk({ store: store as unknown as Store, connected: () => true, log: () => {}, flushMs: 60_000 });
    await closing.beat({ name: 'w', reported: 'IDLE', held: [], now: 8 });
    await closing.beat({ name: 'w', reported: 'IDLE', held: [], now: 9 });
    const before = store.flushed.length;
    await closing.close();
    assert.ok(store.flushed.slice(before).some((b) => b.some((x) => x.at === 9)), 'the last heartbeat is written on close');
  });
});
