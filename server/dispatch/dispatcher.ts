import { Code, ConnectError } from '@connectrpc/connect';
import { DEFAULT_STREAM_KEEPALIVE_MS } from '../core/stream-keepalive.js';
import { wentOfflineMessage } from '../domain/worker-states.js';
import { settingsOf, type WorkerPush, type WorkerSettingsRecord } from '../domain/worker-push.js';
import type { Assignment } from '../domain/records.js';
import type { ClaimPolicy, Store } from '../store/store.js';
import { Channel } from './channel.js';

/** Jobs handed to a worker in one claim at most. */
const CLAIM_BATCH = 32;
/**
 * Workers woken per submitted job. Waking every worker of the queue costs one claim transaction each
 * (10,000 for one job in a large fleet); a few suffice when workers are idle, and the sweep catches a
 * job the woken ones had no room for.
 */
const WAKE_FANOUT = 4;
/** Claims one sweep makes at most. */
const SWEEP_CLAIMS = 256;

interface Session {
  workerName: string;
  queues: Set<string>;
  channel: Channel<WorkerPush>;
  claiming: boolean;
  again: boolean;
  /**
   * The worker's free slots as its last claim left them; undefined once something may have freed
   * one. A worker known to be full is not woken for new jobs: that was most of the claims made.
   */
  free: number | undefined;
}

export interface DispatcherOptions {
  store: Store;
  now?: () => number;
  log: (msg: string, err?: unknown) => void;
  /** Period of the sweep that claims for every connected worker, catching what no event announced. */
  sweepMs?: number;
  policy?: ClaimPolicy;
  /** A quiet stream gets a keepalive message this often; default DEFAULT_STREAM_KEEPALIVE_MS. */
  keepaliveMs?: number;
}

const keepalive = (): WorkerPush => ({ kind: 'keepalive', at: Date.now() });
/**
 * Keepalive ticks per keepalive period. Streams that opened in the same tick get their keepalives
 * in the same tick, in one run of the event loop: at 16 ticks, a fleet of 10,000 that connected
 * within 20 s got about 800 at once every 1.9 s, a 125 ms stall that heartbeats waited behind.
 */
const KEEPALIVE_TICKS = 128;

/**
 * Pushes work to the workers whose FetchJobs streams this server holds. Claims run when something
 * may have made a job fit a worker (a submit, a job ending, a worker connecting) and on a slow sweep;
 * claims for one worker never overlap.
 */
export class Dispatcher {
  private readonly sessions = new Map<string, Session>();
  private readonly store: Store;
  private readonly now: () => number;
  private readonly log: DispatcherOptions['log'];
  private readonly sweep: NodeJS.Timeout;
  private readonly inflight = new Set<Promise<void>>();
  private readonly policy: ClaimPolicy;
  private readonly keepaliveMs: number;
  /**
   * One timer for every stream's keepalive (a server may hold 10,000 streams), ticking often enough
   * that each stream gets its keepalive soon after its own quiet period: streams keep the phases of
   * their connects, rather than all getting theirs in one burst.
   */
  private readonly keepalives: NodeJS.Timeout;
  /** Where the last pick among the sessions stopped: the next goes on from there (workers take turns). */
  private turn: Iterator<Session> | undefined;
  private sweepTurn = 0;
  /**
   * Queues that may hold QUEUED jobs: what the last sweep read, and every queue woken since (a job
   * queued by any replica wakes its queue here). Undefined until a sweep has read it: then every
   * connecting worker claims.
   */
  private maybeQueued: Set<string> | undefined;
  /** Queues woken while a sweep reads: they stay "maybe queued" whatever the read says. */
  private wokenWhileReading: Set<string> | undefined;
  private sweeping = false;
  /** The earliest time a retry is known to fall due, and the timer that releases it then. */
  private releaseDueAt: number | undefined;
  private releaseTimer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(opts: DispatcherOptions) {
    this.store = opts.store;
    this.now = opts.now ?? Date.now;
    this.log = opts.log;
    this.policy = opts.policy ?? {};
    this.keepaliveMs = opts.keepaliveMs ?? DEFAULT_STREAM_KEEPALIVE_MS;
    this.sweep = setInterval(() => void this.sweepQueued(), opts.sweepMs ?? 2000);
    this.sweep.unref();
    this.keepalives = setInterval(() => this.sendKeepalives(), Math.max(10, Math.floor(this.keepaliveMs / KEEPALIVE_TICKS)));
    this.keepalives.unref();
  }

  /** A keepalive on every stream that has been quiet for keepaliveMs: one message for all of them (encoded once). */
  private sendKeepalives(): void {
    const quietSince = Date.now() - this.keepaliveMs;
    let push: WorkerPush | undefined;
    for (const s of this.sessions.values()) if (s.channel.lastPushAt <= quietSince) s.channel.push((push ??= keepalive()));
  }

  /**
   * Opens the stream of a worker. Its first message, a keepalive, tells the worker the stream is
   * live; more follow whenever it has been quiet for keepaliveMs. A previous stream of the same worker
   * on this server ends with Aborted, saying why.
   */
  connect(workerName: string, queues: string[], signal: AbortSignal): Channel<WorkerPush> {
    this.sessions
      .get(workerName)
      ?.channel.fail(new ConnectError(`a newer FetchJobs stream of worker ${workerName} replaced this one`, Code.Aborted));
    // The stream's end closes the channel through disconnect: one abort listener per stream.
    const channel = new Channel<WorkerPush>();
    const session: Session = { workerName, queues: new Set(queues), channel, claiming: false, again: false, free: undefined };
    this.sessions.set(workerName, session);
    if (signal.aborted) queueMicrotask(() => this.disconnect(session));
    else signal.addEventListener('abort', () => this.disconnect(session), { once: true });
    channel.push(keepalive());
    // Nothing queued in its queues (as of the last sweep and every wake since): no claim to make. A
    // fleet reconnecting after a restart made 10,000 empty claim transactions here.
    if (this.mayHaveQueued(queues)) this.claimFor(session);
    return session.channel;
  }

  /** Ends a worker's stream on this server with an error (the worker said it is gone); false when none is here. */
  endStream(workerName: string, err: Error): boolean {
    const s = this.sessions.get(workerName);
    if (!s) return false;
    s.channel.fail(err);
    this.disconnect(s);
    return true;
  }

  private disconnect(session: Session): void {
    if (this.sessions.get(session.workerName) === session) this.sessions.delete(session.workerName);
    session.channel.close();
    // Assignments queued for the stream but never written to it go back to their queues.
    for (const ev of session.channel.drainUnread()) {
      if (ev.kind === 'assignment') {
        const { job, attempt } = ev.assignment;
        void this.handBack(session.workerName, job.id, attempt, job.queue);
      }
    }
  }

  connected(workerName: string): boolean {
    return this.sessions.has(workerName);
  }

  /**
   * `jobs` jobs of this queue were submitted or queued again: offer them to a few of the workers that
   * serve the queue, taking turns, those not already claiming first.
   */
  wakeQueue(queue: string, jobs = 1): void {
    this.maybeQueued?.add(queue);
    this.wokenWhileReading?.add(queue);
    const want = WAKE_FANOUT * jobs;
    const idle: Session[] = [];
    const claiming: Session[] = [];
    for (const s of this.inTurn()) {
      if (!s.queues.has(queue) || s.free === 0) continue;
      if (!s.claiming) idle.push(s);
      else if (claiming.length < want) claiming.push(s);
      if (idle.length >= want) break;
    }
    for (const s of [...idle, ...claiming].slice(0, want)) this.claimFor(s);
  }

  /**
   * Every session once, in turn from where the last pick stopped: no copy of the sessions per call
   * (a submit to a fleet of 10,000 copied and filtered them all, twice).
   */
  private *inTurn(): Generator<Session> {
    for (let seen = 0, n = this.sessions.size; seen < n; seen++) {
      let r = this.turn?.next();
      if (!r || r.done) {
        this.turn = this.sessions.values();
        r = this.turn.next();
        if (r.done) return;
      }
      yield r.value;
    }
  }

  /**
   * Workers a just-submitted job of this queue could be assigned to at once (the submit fast path):
   * connected, serving the queue, not claiming right now, taking turns. One: a submit that locked two
   * worker rows in different orders could deadlock with another.
   */
  candidates(queue: string, max = 1): string[] {
    const out: string[] = [];
    if (max < 1) return out;
    for (const s of this.inTurn()) {
      if (!s.queues.has(queue) || s.claiming || s.free === 0 || s.channel.isClosed) continue;
      out.push(s.workerName);
      if (out.length >= max) break;
    }
    return out;
  }

  /** Pushes a job the store assigned in the submit transaction; hands it back if the worker has gone. */
  async deliverAssigned(a: Assignment): Promise<void> {
    const workerName = a.job.workerName!;
    const session = this.sessions.get(workerName);
    if (session?.free !== undefined) session.free = Math.max(0, session.free - a.job.slots);
    if (session) await this.deliver(session, a);
    else await this.handBack(workerName, a.job.id, a.attempt, a.job.queue);
  }

  /**
   * The periodic sweep: claims for workers of queues that hold QUEUED jobs, at most SWEEP_CLAIMS of
   * them per sweep, taking turns (a job no worker fits would otherwise cost a claim per connected
   * worker every sweep: 10,000 in a large fleet). Workers not known to be full go first.
   */
  private async sweepQueued(): Promise<void> {
    if (this.sweeping || !this.sessions.size) return;
    this.sweeping = true;
    const woken = (this.wokenWhileReading = new Set());
    try {
      const queues = new Set(await this.store.queuedQueues());
      // Retries whose backoff has passed become claimable here, then the claims below take them.
      this.releaseAt((await this.store.releaseDueJobs([...queues], this.now())).nextDueAt);
      this.maybeQueued = new Set([...queues, ...woken]);
      if (!queues.size) return;
      const serving = [...this.sessions.values()].filter((s) => [...s.queues].some((q) => queues.has(q)));
      const start = this.sweepTurn++ % Math.max(1, serving.length);
      const order = [...serving.slice(start), ...serving.slice(0, start)];
      const picked = [...order.filter((s) => s.free !== 0), ...order.filter((s) => s.free === 0)].slice(0, SWEEP_CLAIMS);
      this.sweepTurn += picked.length - 1;
      for (const s of picked) this.claimFor(s);
    } catch (err) {
      this.maybeQueued = undefined;
      this.log('sweep failed', err);
    } finally {
      this.wokenWhileReading = undefined;
      this.sweeping = false;
    }
  }

  /** A worker's slots or state may have changed. */
  wakeWorker(workerName: string): void {
    const s = this.sessions.get(workerName);
    if (!s) return;
    s.free = undefined;
    // Nothing may be queued for it (see maybeQueued): a claim would find nothing. A fleet's first
    // heartbeats, each a wake-up, made 10,000 empty claim transactions that way.
    if (this.mayHaveQueued(s.queues)) this.claimFor(s);
  }

  /** Whether any of these queues may hold QUEUED jobs, as of the last sweep's read and every wake since. */
  private mayHaveQueued(queues: Iterable<string>): boolean {
    if (!this.maybeQueued) return true;
    for (const q of queues) if (this.maybeQueued.has(q)) return true;
    return false;
  }

  /** Tells a connected worker to stop a job; false when its stream is not on this server. */
  cancel(workerName: string, jobId: string, attempt: number, reason: string): boolean {
    const s = this.sessions.get(workerName);
    if (!s) return false;
    return s.channel.push({ kind: 'cancellation', jobId, attempt, reason });
  }

  /**
   * Pushes new settings to a connected worker (operators' live changes) and, when its queues
   * changed, claims for it under the new ones. False when its stream is not on this server.
   */
  pushSettings(workerName: string, settings: WorkerSettingsRecord): boolean {
    const s = this.sessions.get(workerName);
    if (!s) return false;
    s.queues = new Set(settings.queues);
    s.free = undefined;
    const pushed = s.channel.push({ kind: 'settings', settings });
    this.claimFor(s);
    return pushed;
  }

  /** An operator changed a worker (through any replica): push its settings as stored now, if its stream is here. */
  settingsChanged(workerName: string): void {
    if (this.sessions.has(workerName)) void this.refreshSettings(workerName);
  }

  private async refreshSettings(workerName: string): Promise<void> {
    try {
      const worker = await this.store.getWorker(workerName);
      if (worker?.state === 'OFFLINE') {
        this.endStream(workerName, new ConnectError(wentOfflineMessage(workerName), Code.FailedPrecondition));
      } else if (worker) this.pushSettings(workerName, settingsOf(worker));
    } catch (err) {
      this.log(`could not push new settings to worker ${workerName}`, err);
    }
  }

  /**
   * A retry waits out its backoff until `at`: it is released then and claimed at once, rather than
   * at the first sweep after (up to a sweep period late). One timer, for the earliest time known.
   */
  releaseAt(at: number | undefined): void {
    if (at === undefined || this.closed || (this.releaseDueAt !== undefined && this.releaseDueAt <= at)) return;
    clearTimeout(this.releaseTimer);
    this.releaseDueAt = at;
    // A millisecond late rather than early; setTimeout holds at most 2^31-1 ms (the sweeps go on meanwhile).
    this.releaseTimer = setTimeout(() => void this.releaseDue(), Math.min(Math.max(0, at - this.now()) + 1, 2 ** 31 - 1));
    this.releaseTimer.unref();
  }

  private async releaseDue(): Promise<void> {
    this.releaseDueAt = undefined;
    this.releaseTimer = undefined;
    try {
      const { released, nextDueAt } = await this.store.releaseDueJobs(await this.store.queuedQueues(), this.now());
      for (const { queue, jobs } of released) this.wakeQueue(queue, jobs);
      this.releaseAt(nextDueAt);
    } catch (err) {
      this.log('could not release the retries that fell due (the next sweep will)', err);
    }
  }

  /** Ends every stream (server shutdown) and waits for claims under way. */
  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.releaseTimer);
    clearInterval(this.sweep);
    clearInterval(this.keepalives);
    for (const s of this.sessions.values()) s.channel.close();
    this.sessions.clear();
    await Promise.allSettled([...this.inflight]);
  }

  private claimFor(session: Session): void {
    if (session.claiming) {
      session.again = true;
      return;
    }
    session.claiming = true;
    const run = this.claimLoop(session).finally(() => {
      session.claiming = false;
      this.inflight.delete(run);
      // A wake-up between the loop's last check and here would otherwise wait for the sweep.
      if (session.again && !session.channel.isClosed) this.claimFor(session);
    });
    this.inflight.add(run);
  }

  private async claimLoop(session: Session): Promise<void> {
    do {
      session.again = false;
      if (session.channel.isClosed) return;
      let assigned: Assignment[];
      try {
        const claim = await this.store.claimJobs(session.workerName, this.now(), CLAIM_BATCH, this.policy);
        assigned = claim.assigned;
        // A wake-up that came while the claim ran may have freed a slot the claim did not see.
        session.free = session.again ? undefined : claim.freeSlots;
      } catch (err) {
        session.free = undefined;
        this.log(`claim for worker ${session.workerName} failed`, err);
        return;
      }
      for (const a of assigned) await this.deliver(session, a);
      // A full batch may have left more that fits.
      if (assigned.length === CLAIM_BATCH) session.again = true;
    } while (session.again);
  }

  private async deliver(session: Session, a: Assignment): Promise<void> {
    // The stream may have closed between claim and push: then the job goes back to its queue.
    if (!session.channel.push({ kind: 'assignment', assignment: a })) await this.handBack(session.workerName, a.job.id, a.attempt, a.job.queue);
  }

  private async handBack(workerName: string, jobId: string, attempt: number, queue: string): Promise<void> {
    try {
      await this.store.reportJob({ jobId, attempt, workerName, state: 'QUEUED', exitCode: null, signal: null, reason: '' }, this.now());
      this.wakeQueue(queue);
    } catch (err) {
      this.log(`could not hand back job ${jobId} after worker ${workerName} left`, err);
    }
  }
}
