import assert from 'node:assert/strict';
import type { FetchJobsResponse } from '../../../../gen/edge/v1/worker_service_pb.js';
import type { WorkerPush } from '../../../../server/domain/worker-push.js';
import { workerPushToWire } from '../../../../server/services/convert.js';
import type { Channel } from '../../../../server/dispatch/channel.js';
import { Dispatcher } from '../../../../server/dispatch/dispatcher.js';
import { Notifier } from '../../../../server/dispatch/notifier.js';
import { Publisher } from '../../../../server/core/publisher.js';
import type { EventFeed } from '../../../../server/dispatch/event-feed.js';
import type { Assignment, JobEventRecord, JobRecord, JobReport, WorkerRecord, WrittenEvent } from '../../../../server/domain/records.js';
import type { ClaimResult, ReleasedJobs, Store } from '../../../../server/store/store.js';
import { waitFor } from '../../../helpers/wait.js';

/**
 * The dispatcher against an in-memory stand-in for the store: the store's own claim rules are tested
 * in test/store/; here what matters is when the dispatcher claims, for whom, and what it does with
 * what it got.
 */
class FakeStore {
  readonly queued: JobRecord[] = [];
  readonly workers = new Map<string, string[]>();
  readonly claims: string[] = [];
  readonly reports: JobReport[] = [];
  /** While set, claims wait for it: lets a test hold a claim open. */
  gate: Promise<void> | undefined;
  failClaims = false;
  private seq = 0;

  addJob(queue: string): JobRecord {
    const j = {
      id: `job-${++this.seq}`, queue, argv: ['true'], env: {}, cwd: '', slots: 1, priority: 0, timeoutSeconds: 0, maxAttempts: 1,
      labels: {}, state: 'QUEUED', workerName: null, attempt: 0, exitCode: null, signal: null, reason: '', cancelRequested: false,
      notBefore: 0, queuedAt: 0, createdAt: 0, startedAt: null, endedAt: null, updatedAt: 0,
    } satisfies JobRecord;
    this.queued.push(j);
    return j;
  }

  /** Slots a claim says are left; 0 tells the dispatcher the worker is full. */
  freeAfterClaim = 1;

  async claimJobs(workerName: string, _now: number, max: number): Promise<ClaimResult> {
    this.claims.push(workerName);
    await this.gate;
    if (this.failClaims) throw new Error('database down');
    const queues = this.workers.get(workerName) ?? [];
    const mine = this.queued.filter((j) => queues.includes(j.queue)).slice(0, max);
    for (const j of mine) this.queued.splice(this.queued.indexOf(j), 1);
    return {
      assigned: mine.map((j) => ({ job: { ...j, state: 'ASSIGNED', workerName, attempt: j.attempt + 1 }, attempt: j.attempt + 1 })),
      freeSlots: this.freeAfterClaim,
    };
  }

  /** A hand-back puts the job back in its queue, as the store does. */
  requeue = true;

  async reportJob(r: JobReport): Promise<JobRecord> {
    this.reports.push(r);
    const j = { ...this.addJob('q'), id: r.jobId, attempt: r.attempt };
    this.queued.pop();
    if (this.requeue) this.queued.push(j);
    return j;
  }

  async queuedQueues(): Promise<string[]> {
    return [...new Set([...this.queued, ...this.waiting.map((w) => w.job)].map((j) => j.queue))];
  }

  /** The releases of due retries: the queues named, and how many claims had been made before. */
  readonly releases: { queues: string[]; claimsBefore: number }[] = [];
  /** Retries waiting out their backoff, until a release after `dueAt` queues them. */
  readonly waiting: { job: JobRecord; dueAt: number }[] = [];

  addRetry(queue: string, dueAt: number): JobRecord {
    const job = this.addJob(queue);
    this.queued.splice(this.queued.indexOf(job), 1);
    this.waiting.push({ job, dueAt });
    return job;
  }

  async releaseDueJobs(queues: string[], now: number): Promise<ReleasedJobs> {
    this.releases.push({ queues, claimsBefore: this.claims.length });
    const due = this.waiting.filter((w) => queues.includes(w.job.queue) && w.dueAt <= now);
    for (const w of due) this.waiting.splice(this.waiting.indexOf(w), 1), this.queued.push(w.job);
    const later = this.waiting.filter((w) => queues.includes(w.job.queue)).map((w) => w.dueAt);
    return { released: [...new Set(due.map((w) => w.job.queue))].map((queue) => ({ queue, jobs: due.filter((w) => w.job.queue === queue).length })), nextDueAt: later.length ? Math.min(...later) : undefined };
  }

  private committedListener: ((events: WrittenEvent[]) => void) | undefined;
  onCommitted(fn: (events: WrittenEvent[]) => void): () => void {
    this.committedListener = fn;
    return () => (this.committedListener = undefined);
  }
  /** Events of a commit, as the store announces them. */
  commit(...events: Partial<WrittenEvent>[]): void {
    this.committedListener?.(events.map((e) => ({ jobId: 'j', queue: 'q', kind: 'state', state: 'QUEUED', attempt: 1, workerName: null, exitCode: null, signal: null, reason: '', at: 0, ...e })));
  }

  async getWorker(name: string): Promise<WorkerRecord | undefined> {
    const queues = this.workers.get(name);
    if (!queues) return undefined;
    return { name, queues, concurrency: 7, maintenance: true, shutdownRequested: false, maintenanceComment: null } as unknown as WorkerRecord;
  }
}

/** A change-log feed whose events the test emits. */
class FakeFeed {
  listener: ((events: JobEventRecord[]) => void) | undefined;
  subscribe(fn: (events: JobEventRecord[]) => void): () => void {
    this.listener = fn;
    return () => (this.listener = undefined);
  }
  kick(): void {}
  kickIfWatched(): void {}
  emit(...events: Partial<JobEventRecord>[]): void {
    this.listener!(events.map((e) => ({ seq: 1, jobId: 'j', queue: 'q', kind: 'state', state: 'QUEUED', attempt: 1, workerName: null, exitCode: null, signal: null, reason: '', at: 0, ...e })));
  }
}

/** Lets claims against the in-memory store (which resolve within microtasks) run to their end. */
const settled = () => new Promise((r) => setImmediate(r));

async function* mapped(channel: Channel<WorkerPush>): AsyncIterable<FetchJobsResponse> {
  for await (const p of channel) yield workerPushToWire(p);
}

/** Reads what the dispatcher pushed to a worker's stream; keepalives are counted apart. */
class Reader {
  readonly got: FetchJobsResponse[] = [];
  readonly keepaliveMessages: FetchJobsResponse[] = [];
  keepalives = 0;
  constructor(channel: Channel<WorkerPush>) {
    void (async () => {
      // Read as the stream handler sends it: the wire message of each push.
      for await (const m of mapped(channel)) {
        if (m.event.case === 'keepalive') (this.keepalives += 1), this.keepaliveMessages.push(m);
        else this.got.push(m);
      }
    })();
  }
  of(kind: 'assignment' | 'cancellation' | 'settings') {
    return this.got.filter((m) => m.event.case === kind).map((m) => m.event.value!);
  }
  jobIds(): string[] {
    return this.got.flatMap((m) => (m.event.case === 'assignment' ? [m.event.value.job!.id] : []));
  }
}

describe('Dispatcher: when it claims, for whom, and what becomes of the claimed jobs', () => {
  let store: FakeStore;
  let feed: FakeFeed;
  let dispatcher: Dispatcher;
  let logged: string[];
  const streams: AbortController[] = [];

  function connect(name: string, queues: string[]): { reader: Reader; stream: AbortController; channel: Channel<WorkerPush> } {
    store.workers.set(name, queues);
    const stream = new AbortController();
    streams.push(stream);
    const channel = dispatcher.connect(name, queues, stream.signal);
    return { reader: new Reader(channel), stream, channel };
  }

  beforeEach(() => {
    store = new FakeStore();
    feed = new FakeFeed();
    logged = [];
    dispatcher = new Dispatcher({
      store: store as unknown as Store,
      log: (msg) => logged.push(msg),
      sweepMs: 60_000,
      now: () => 1234,
    });
    // The change log reaches the dispatcher through the publisher, as in the server.
    new Publisher({ store: store as unknown as Store, dispatcher, feed: feed as unknown as EventFeed, jobEvents: new Notifier() });
  });

  afterEach(async () => {
    for (const s of streams.splice(0)) s.abort();
    await dispatcher.close();
  });

  it('claims for a worker as it connects and pushes what it got on its stream, with the attempt', async () => {
    const a = store.addJob('q');
    const b = store.addJob('q');
    store.addJob('other');
    const { reader } = connect('w1', ['q']);
    await waitFor('two assignments', () => reader.got.length === 2);
    // The first message of every stream tells the worker it is live.
    assert.equal(reader.keepalives, 1);
    assert.deepEqual(reader.jobIds(), [a.id, b.id]);
    assert.deepEqual(reader.of('assignment').map((x) => 'attempt' in x && x.attempt), [1, 1]);
    assert.deepEqual(store.claims, ['w1']);
  });

  it('never runs two claims for one worker at once: wake-ups during a claim fold into one more claim', async () => {
    let open!: () => void;
    store.gate = new Promise((r) => (open = r));
    const { reader } = connect('w1', ['q']);
    await waitFor('the first claim', () => store.claims.length === 1);
    for (let i = 0; i < 5; i++) {
      store.addJob('q');
      dispatcher.wakeWorker('w1');
      dispatcher.wakeQueue('q');
    }
    assert.equal(store.claims.length, 1, 'no claim overlaps the one under way');
    store.gate = undefined;
    open();
    await waitFor('the five jobs', () => reader.got.length === 5);
    assert.equal(store.claims.length, 2, 'the wake-ups made exactly one more claim');
  });

  it('does not lose a wake-up that comes as a claim is ending (it used to wait for the sweep)', async () => {
    connect('w1', ['q']);
    // The connect claim against the in-memory store ends within the next few microtasks: wake then.
    await Promise.resolve();
    await Promise.resolve();
    const job = store.addJob('q');
    dispatcher.wakeWorker('w1');
    await waitFor('a claim after the wake-up', () => store.claims.length === 2, 2_000, 5);
    assert.equal(store.queued.includes(job), false);
  });

  it('claims again after a full batch of 32, since more may fit', async () => {
    for (let i = 0; i < 40; i++) store.addJob('q');
    const { reader } = connect('w1', ['q']);
    await waitFor('40 assignments', () => reader.got.length === 40);
    await waitFor('a second claim', () => store.claims.length === 2);
    await settled();
    assert.equal(store.claims.length, 2, 'a batch short of 32 ends the claims');
  });

  it('hands a job back to its queue when the stream closed between claim and push, and offers it to another worker', async () => {
    let open!: () => void;
    store.gate = new Promise((r) => (open = r));
    const gone = connect('gone', ['q']);
    const other = connect('other', ['q']);
    await waitFor('both claims', () => store.claims.length === 2);
    const job = store.addJob('q');
    gone.stream.abort();
    store.gate = undefined;
    open();
    await waitFor('the hand-back', () => store.reports.length === 1);
    assert.deepEqual(store.reports[0], { jobId: job.id, attempt: 1, workerName: 'gone', state: 'QUEUED', exitCode: null, signal: null, reason: '' });
    assert.equal(gone.reader.got.length, 0);
    await waitFor('the handed-back job to reach the other worker', () => other.reader.jobIds().includes(job.id));
  });

  it('hands back a job assigned at submit (fast path) whose worker has no stream here', async () => {
    const job = store.addJob('q');
    store.queued.length = 0;
    store.requeue = false;
    await dispatcher.deliverAssigned({ job: { ...job, workerName: 'nobody' }, attempt: 1 });
    assert.deepEqual(store.reports.map((r) => [r.jobId, r.workerName, r.state]), [[job.id, 'nobody', 'QUEUED']]);
  });

  it('wakes at most four workers per submitted job, taking turns, and only those serving the queue', async () => {
    for (let i = 0; i < 10; i++) connect(`w${i}`, ['q']);
    connect('x', ['elsewhere']);
    await waitFor('the connect claims', () => store.claims.length === 11);
    store.claims.length = 0;
    await settled();
    dispatcher.wakeQueue('q');
    await waitFor('four claims', () => store.claims.length === 4);
    assert.deepEqual(store.claims, ['w0', 'w1', 'w2', 'w3']);
    await settled();
    dispatcher.wakeQueue('q');
    await waitFor('four more', () => store.claims.length === 8);
    assert.deepEqual(store.claims.slice(4), ['w4', 'w5', 'w6', 'w7'], 'the next wake goes on where the last stopped');
    store.claims.length = 0;
    await settled();
    dispatcher.wakeQueue('q', 2);
    await waitFor('eight claims for two jobs', () => store.claims.length === 8);
    dispatcher.wakeQueue('nobody-serves-this');
    assert.equal(store.claims.length, 8);
  });

  it('wakes no worker its last claim found full for new jobs, until one of its jobs ends', async () => {
    store.freeAfterClaim = 0;
    connect('full', ['q']);
    await waitFor('the connect claim', () => store.claims.length === 1);
    await settled();
    store.freeAfterClaim = 1;
    connect('roomy', ['q']);
    await waitFor('the second connect claim', () => store.claims.length === 2);
    await settled();
    store.claims.length = 0;
    dispatcher.wakeQueue('q', 5);
    await waitFor('a claim', () => store.claims.length === 1);
    await settled();
    assert.deepEqual(store.claims, ['roomy'], 'the full worker is not asked');
    assert.deepEqual(dispatcher.candidates('q'), ['roomy']);
    // One of its jobs ended (the publisher says so): it has room again.
    feed.emit({ state: 'SUCCEEDED', queue: 'q', workerName: 'full' });
    await waitFor('a claim for the worker with a freed slot', () => store.claims.includes('full'));
  });

  it('wakes a worker for the slots its ended jobs freed, unless a claim for it later in the same commit counted them (report-and-claim)', async () => {
    connect('w', ['q']);
    connect('v', ['q']);
    await waitFor('the connect claims', () => store.claims.length === 2);
    await settled();
    store.claims.length = 0;
    const ended = (workerName: string) => ({ state: 'SUCCEEDED' as const, workerName, releasedBy: workerName });
    const claimed = (workerName: string) => ({ state: 'ASSIGNED' as const, workerName, claimed: true as const });
    // w's end, then a claim for w: served. v's end, then a claim for w only: v is woken.
    store.commit(ended('w'), claimed('w'), ended('v'));
    await waitFor('a claim for v', () => store.claims.includes('v'));
    await settled();
    assert.deepEqual(store.claims, ['v'], 'w was claimed for after its end, in the same commit');
    // A claim before the end did not count the slot it freed.
    store.commit(claimed('w'), ended('w'));
    await waitFor('a claim for w', () => store.claims.includes('w'));
    await settled();
    assert.deepEqual(store.claims, ['v', 'w']);
  });

  it('offers the submit fast path one connected worker of the queue at a time, in turn, never one that is claiming', async () => {
    connect('a', ['q']);
    connect('b', ['q']);
    await settled();
    const picks = [dispatcher.candidates('q'), dispatcher.candidates('q')];
    assert.deepEqual(picks.flat().sort(), ['a', 'b']);
    assert.deepEqual(dispatcher.candidates('none'), []);
    let open!: () => void;
    store.gate = new Promise((r) => (open = r));
    dispatcher.wakeWorker('a');
    assert.deepEqual([dispatcher.candidates('q'), dispatcher.candidates('q')], [['b'], ['b']]);
    open();
  });

  it('pushes a cancel to the worker that runs the job; false when its stream is not here', async () => {
    const { reader } = connect('w1', ['q']);
    assert.equal(dispatcher.cancel('w1', 'j9', 2, 'canceled by ops'), true);
    assert.equal(dispatcher.cancel('elsewhere', 'j9', 2, 'x'), false);
    await waitFor('the cancellation', () => reader.of('cancellation').length === 1);
    assert.deepEqual(reader.of('cancellation').map((c) => 'jobId' in c && [c.jobId, c.attempt, c.reason]), [['j9', 2, 'canceled by ops']]);
  });

  it('acts on the change log: queued jobs wake their queue, ended jobs their worker, cancels and operators\' changes reach the stream', async () => {
    const w1 = connect('w1', ['q']);
    connect('w2', ['other']);
    await waitFor('the connect claims', () => store.claims.length === 2);
    store.claims.length = 0;
    feed.emit({ state: 'QUEUED', queue: 'q' });
    await waitFor('a claim for the queue', () => store.claims.length === 1);
    assert.deepEqual(store.claims, ['w1']);
    feed.emit({ state: 'SUCCEEDED', queue: 'q', workerName: 'w2' });
    await waitFor('a claim for the freed worker', () => store.claims.length === 2);
    assert.equal(store.claims[1], 'w2');

    feed.emit({ kind: 'cancel', jobId: 'jc', attempt: 3, workerName: 'w1', reason: 'canceled' });
    await waitFor('the cancellation', () => w1.reader.of('cancellation').length === 1);

    store.workers.set('w1', ['q', 'new']);
    feed.emit({ kind: 'worker', workerName: 'w1' });
    await waitFor('the settings', () => w1.reader.of('settings').length === 1);
    const settings = w1.reader.of('settings')[0]!;
    assert.ok('concurrency' in settings);
    assert.deepEqual([settings.queues, settings.concurrency, settings.maintenance], [['q', 'new'], 7, true]);
  });

  it('claims under a worker\'s new queues once an operator changes them', async () => {
    const { reader } = connect('w1', ['q']);
    await waitFor('the connect claim', () => store.claims.length === 1);
    const job = store.addJob('new');
    store.workers.set('w1', ['new']);
    assert.equal(dispatcher.pushSettings('w1', { queues: ['new'], concurrency: 1, maintenance: false, maintenanceComment: null, shutdownRequested: false }), true);
    await waitFor('the job of the new queue', () => reader.jobIds().includes(job.id));
    assert.equal(dispatcher.pushSettings('absent', { queues: [], concurrency: 1, maintenance: false, maintenanceComment: null, shutdownRequested: false }), false);
  });

  it('sends keepalives on every quiet stream from one timer, none on a stream that was just pushed to, and none after it ended', async () => {
    await dispatcher.close();
    dispatcher = new Dispatcher({ store: store as unknown as Store, log: (msg) => logged.push(msg), sweepMs: 60_000, now: () => 1234, keepaliveMs: 150 });
    const quiet = connect('w1', ['q']);
    const other = connect('w2', ['q']);
    const busy = connect('w3', ['q']);
    // w3 gets a push every 20 ms: never quiet for 150 ms (a busy machine may let one keepalive through).
    const pusher = setInterval(() => dispatcher.cancel('w3', 'job-x', 1, 'test'), 20);
    try {
      await waitFor('keepalives on both quiet streams', () => quiet.reader.keepalives >= 3 && other.reader.keepalives >= 3, 5000);
      assert.ok(busy.reader.keepalives <= 2, `${busy.reader.keepalives} keepalives on a busy stream`);
      // Streams quiet since the same moment get one message from their tick, frozen: the transport encodes it once.
      const shared = quiet.reader.keepaliveMessages.slice(1).filter((m) => other.reader.keepaliveMessages.includes(m));
      assert.ok(shared.length >= 1, 'the two quiet streams never got the same keepalive message');
      assert.ok(shared.every((m) => Object.isFrozen(m)));
    } finally {
      clearInterval(pusher);
    }
    quiet.stream.abort();
    await new Promise((r) => setTimeout(r, 10));
    const after = quiet.reader.keepalives;
    await waitFor('more keepalives on the other stream', () => other.reader.keepalives >= after + 2, 5000);
    assert.equal(quiet.reader.keepalives, after);
    assert.equal(dispatcher.connected('w1'), false);
  });

  it('replaces an older stream of the same worker, and forgets a worker whose stream ended', async () => {
    const first = connect('w1', ['q']);
    const second = connect('w1', ['q']);
    assert.equal(first.channel.isClosed, true);
    assert.equal(second.channel.isClosed, false);
    assert.equal(dispatcher.connected('w1'), true);
    first.stream.abort();
    assert.equal(dispatcher.connected('w1'), true, 'the old stream ending does not drop the new one');
    second.stream.abort();
    assert.equal(dispatcher.connected('w1'), false);
  });

  it('sweeps: claims for workers of queues that hold queued jobs, and only those', async () => {
    await dispatcher.close();
    dispatcher = new Dispatcher({ store: store as unknown as Store, log: (m) => logged.push(m), sweepMs: 20 });
    connect('busy', ['q']);
    connect('idle', ['empty']);
    await waitFor('the connect claims', () => store.claims.length === 2);
    store.claims.length = 0;
    store.workers.set('busy', []); // the job stays queued, so each sweep claims again
    store.addJob('q');
    await waitFor('two sweeps', () => store.claims.length >= 2, 5_000, 5);
    assert.deepEqual([...new Set(store.claims)], ['busy']);
  });

  it('sweeps: releases the due retries of the queues that hold queued jobs, then claims', async () => {
    await dispatcher.close();
    dispatcher = new Dispatcher({ store: store as unknown as Store, log: (m) => logged.push(m), sweepMs: 20 });
    connect('w', ['q']);
    await waitFor('the connect claim', () => store.claims.length === 1);
    store.workers.set('w', []); // the job stays queued, so each sweep claims again
    store.addJob('q');
    store.releases.length = 0;
    await waitFor('a sweep claim after a release', () => store.releases.some((r) => r.claimsBefore < store.claims.length), 5_000, 5);
    assert.deepEqual(store.releases[0]!.queues, ['q']);
    assert.equal(logged.length, 0, logged.join('; '));
  });

  it('releases a retry when its backoff has passed and claims it at once, not at the next sweep; no claim before', async () => {
    await dispatcher.close();
    dispatcher = new Dispatcher({ store: store as unknown as Store, log: (m) => logged.push(m), sweepMs: 60_000 });
    new Publisher({ store: store as unknown as Store, dispatcher, feed: feed as unknown as EventFeed, jobEvents: new Notifier() });
    const { reader } = connect('w', ['q']);
    await waitFor('the connect claim', () => store.claims.length === 1);
    const later = store.addRetry('q', Date.now() + 400);
    const first = store.addRetry('q', Date.now() + 150);
    const t0 = Date.now();
    // The retries' ends commit; the second is due first.
    store.commit({ jobId: later.id, dueAt: store.waiting[0]!.dueAt, releasedBy: 'w' }, { jobId: first.id, dueAt: store.waiting[1]!.dueAt, releasedBy: 'w' });
    await new Promise((r) => setTimeout(r, 60));
    assert.deepEqual(reader.jobIds(), []);
    await waitFor('the first retry', () => reader.jobIds().includes(first.id), 2_000, 5);
    const waited = Date.now() - t0;
    assert.ok(waited >= 140 && waited < 350, `pushed ${waited} ms after its end, due after 150`);
    assert.deepEqual(reader.jobIds(), [first.id]);
    await waitFor('the second retry, on the release timer set again', () => reader.jobIds().includes(later.id), 2_000, 5);
    assert.ok(Date.now() - t0 >= 390, `the second came ${Date.now() - t0} ms after its end, due after 400`);
    assert.equal(logged.length, 0, logged.join('; '));
  });

  it('sweeps a large fleet in turns: at most 256 claims per sweep, every worker reached over the next ones', async () => {
    await dispatcher.close();
    dispatcher = new Dispatcher({ store: store as unknown as Store, log: (m) => logged.push(m), sweepMs: 150 });
    for (let i = 0; i < 400; i++) connect(`f${i}`, ['q']);
    await waitFor('the connect claims', () => store.claims.length === 400);
    store.claims.length = 0;
    for (let i = 0; i < 400; i++) store.workers.set(`f${i}`, []); // the job stays queued, so each sweep claims again
    store.addJob('q');
    await waitFor('a first sweep', () => store.claims.length >= 256, 5_000, 2);
    await new Promise((r) => setTimeout(r, 10));
    assert.ok(store.claims.length <= 256, `${store.claims.length} claims in one sweep`);
    await waitFor('every worker swept', () => new Set(store.claims).size === 400, 5_000, 5);
  });

  it('makes no claim for a connecting worker when its queues hold nothing (last sweep and wakes since), and claims once one is woken', async () => {
    await dispatcher.close();
    dispatcher = new Dispatcher({ store: store as unknown as Store, log: (m) => logged.push(m), sweepMs: 20 });
    connect('first', ['q']);
    await waitFor('the first connect claims (nothing read yet)', () => store.claims.includes('first'));
    await new Promise((r) => setTimeout(r, 60)); // a sweep has read that nothing is queued
    store.claims.length = 0;
    connect('second', ['q']);
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(store.claims.length, 0, 'nothing queued: no claim');
    const job = store.addJob('q');
    dispatcher.wakeQueue('q');
    const { reader } = connect('third', ['q']);
    await waitFor('the job', () => reader.jobIds().includes(job.id) || store.claims.includes('third'));
    assert.ok(store.claims.includes('third'), 'a woken queue makes a connecting worker claim');
  });

  it('makes no claim for a wake-up of a worker (a heartbeat, a job ended) when its queues hold nothing, and claims once one may', async () => {
    await dispatcher.close();
    dispatcher = new Dispatcher({ store: store as unknown as Store, log: (m) => logged.push(m), sweepMs: 20 });
    connect('w', ['q']);
    await new Promise((r) => setTimeout(r, 60)); // a sweep has read that nothing is queued
    store.claims.length = 0;
    dispatcher.wakeWorker('w');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(store.claims.length, 0, 'nothing queued: no claim');
    store.workers.set('w', []); // the job stays queued: the sweeps keep reading it
    store.addJob('q');
    await new Promise((r) => setTimeout(r, 60));
    store.claims.length = 0;
    dispatcher.wakeWorker('w');
    await waitFor('a claim for the wake-up', () => store.claims.includes('w'));
  });

  it('does not mark a queue for a job the change log shows queued and then assigned', async () => {
    await dispatcher.close();
    dispatcher = new Dispatcher({ store: store as unknown as Store, log: (m) => logged.push(m), sweepMs: 20 });
    new Publisher({ store: store as unknown as Store, dispatcher, feed: feed as unknown as EventFeed, jobEvents: new Notifier() });
    connect('w', ['q']);
    await new Promise((r) => setTimeout(r, 60));
    store.claims.length = 0;
    feed.emit({ jobId: 'j1', state: 'QUEUED', queue: 'q' }, { jobId: 'j1', state: 'ASSIGNED', queue: 'q', workerName: 'other' });
    connect('late', ['q']);
    await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(store.claims, [], 'no claim: the job was taken at once');
    feed.emit({ jobId: 'j2', state: 'QUEUED', queue: 'q' });
    await waitFor('the wake-up claims', () => store.claims.length > 0);
  });

  it('logs a failed claim and keeps serving', async () => {
    store.failClaims = true;
    connect('w1', ['q']);
    await waitFor('the failure to be logged', () => logged.length === 1);
    assert.match(logged[0]!, /claim for worker w1 failed/);
    store.failClaims = false;
    const job = store.addJob('q');
    const { reader } = connect('w2', ['q']);
    await waitFor('a later claim to work', () => reader.jobIds().includes(job.id));
  });

  it('ends every stream on close and waits for the claims under way', async () => {
    let open!: () => void;
    store.gate = new Promise((r) => (open = r));
    const { channel } = connect('w1', ['q']);
    await waitFor('the claim', () => store.claims.length === 1);
    let closed = false;
    const closing = dispatcher.close().then(() => (closed = true));
    assert.equal(channel.isClosed, true);
    await new Promise((r) => setImmediate(r));
    assert.equal(closed, false, 'close waits for the claim under way');
    open();
    await closing;
    assert.equal(dispatcher.connected('w1'), false);
  });
});
