import { ACCEPTING_WORKER_STATES, type JobRecord, type WorkerStateName } from './records.js';

/**
 * The scheduling rule, once: which job fits which worker, in what order a worker takes jobs, when a
 * job at the head of its queue holds back the jobs behind it, and why a job may wait for ever. The
 * store asks the database for candidates with the parameters these functions give and decides with
 * these functions; the submit fast path, the claim, the queue stats and the waiting reasons all
 * come here.
 */

/** What the rule needs to know of a job. */
export interface JobNeeds {
  queue: string;
  /** '' (or absent) for a job of no team. */
  team?: string;
  slots: number;
}

/** What the rule needs to know of a worker. */
export interface WorkerCapacity {
  state: WorkerStateName;
  queues: readonly string[];
  team: string;
  concurrency: number;
  /** Slots its ASSIGNED and RUNNING jobs take. */
  usedSlots: number;
}

export type FitProblem = 'not-accepting' | 'queue' | 'team' | 'too-big' | 'busy';

/** Whether the server hands new jobs to a worker in this state. */
export const acceptsWork = (state: WorkerStateName): boolean => ACCEPTING_WORKER_STATES.includes(state);

/** Slots a worker has free now (never below zero). */
export const freeSlots = (w: Pick<WorkerCapacity, 'concurrency' | 'usedSlots'>): number => Math.max(0, w.concurrency - w.usedSlots);

/**
 * Why a job cannot go to a worker right now, or undefined when it can. A worker runs only the jobs
 * of its own team (a job's team comes from its submitter's credential) and of its queues, and never
 * holds more slots than its concurrency.
 */
export function fitProblem(job: JobNeeds, worker: WorkerCapacity): FitProblem | undefined {
  if (!acceptsWork(worker.state)) return 'not-accepting';
  if (!worker.queues.includes(job.queue)) return 'queue';
  if (worker.team !== (job.team ?? '')) return 'team';
  if (job.slots > worker.concurrency) return 'too-big';
  if (job.slots > freeSlots(worker)) return 'busy';
  return undefined;
}

export const fitsNow = (job: JobNeeds, worker: WorkerCapacity): boolean => fitProblem(job, worker) === undefined;

/**
 * The filter a worker's claim puts to one queue's released QUEUED jobs (a retry is released once its
 * backoff has passed): its team's, no bigger than its concurrency (a bigger one could never fit
 * it). Rows are read in claimOrder.
 */
export function claimFilter(worker: Pick<WorkerCapacity, 'team' | 'concurrency'>): { team: string; maxSlots: number } {
  return { team: worker.team, maxSlots: worker.concurrency };
}

/** The order in which a worker takes jobs: higher priority first, then older (smaller id) first. */
export function claimOrder(a: Pick<JobRecord, 'priority' | 'id'>, b: Pick<JobRecord, 'priority' | 'id'>): number {
  return b.priority - a.priority || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}

/** Rows a claim reads per queue: every job takes at least a slot; a few more let small jobs fill in behind a head that does not fit yet. */
export const claimReadAhead = (free: number, maxJobs: number): number => Math.min(free, maxJobs) + 8;

export interface PickOptions {
  free: number;
  maxJobs: number;
  now: number;
  /** Head reservation: see pickClaims. Infinity: never. */
  reserveAfterMs: number;
}

/**
 * The jobs a worker takes from candidates already in claimOrder that match its claimFilter. A job
 * that does not fit the free slots is skipped, unless it has waited reserveAfterMs: then it fits
 * the worker once its slots drain, and nothing ranked behind it may take those slots first, or a
 * stream of small jobs could starve it for ever (head reservation).
 */
export function pickClaims<J extends Pick<JobRecord, 'slots' | 'createdAt'>>(candidates: readonly J[], opts: PickOptions): J[] {
  const picked: J[] = [];
  let free = opts.free;
  for (const job of candidates) {
    if (picked.length >= opts.maxJobs || free <= 0) break;
    if (job.slots <= free) {
      picked.push(job);
      free -= job.slots;
    } else if (opts.now - job.createdAt >= opts.reserveAfterMs) break;
  }
  return picked;
}

/** What the live workers of one queue offer, for stats and waiting reasons. */
export interface QueueCapacity {
  workers: number;
  /** Free slots of its workers that accept work now. */
  freeSlots: number;
  /** The largest concurrency among its live workers: a job needing more waits for ever. */
  maxWorkerSlots: number;
}

/** Capacity per queue of these live workers. */
export function queueCapacities(live: readonly WorkerCapacity[]): Map<string, QueueCapacity> {
  const out = new Map<string, QueueCapacity>();
  for (const w of live) {
    for (const q of w.queues) {
      const c = out.get(q) ?? { workers: 0, freeSlots: 0, maxWorkerSlots: 0 };
      c.workers += 1;
      c.maxWorkerSlots = Math.max(c.maxWorkerSlots, w.concurrency);
      if (acceptsWork(w.state)) c.freeSlots += freeSlots(w);
      out.set(q, c);
    }
  }
  return out;
}

/** A job no live worker of its queue could ever hold: it needs more slots than the largest has. */
export const unplaceable = (slots: number, capacity: QueueCapacity | undefined): boolean => slots > (capacity?.maxWorkerSlots ?? 0);

/**
 * Why a queued job waits when no live worker could ever take it ("no worker of queue q has 4
 * slots"), or undefined when some live worker could.
 */
export function waitingReason(queue: string, slots: number, capacity: Pick<QueueCapacity, 'maxWorkerSlots'> | undefined): string | undefined {
  const max = capacity?.maxWorkerSlots ?? 0;
  if (!max) return `no live worker serves queue ${queue}`;
  if (slots > max) return `no worker of queue ${queue} has ${slots} slots (the largest has ${max})`;
  return undefined;
}
