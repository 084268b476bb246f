import type { WorkerStateName } from './records.js';

/** How a worker's stored state follows from what it reports and what operators want of it. */

export interface WorkerWishes {
  /** An operator wants the worker in maintenance. */
  maintenance: boolean;
  /** An operator asked the worker to shut down. */
  shutdownRequested: boolean;
}

/** States a worker may report of itself in a heartbeat. */
export const REPORTABLE_WORKER_STATES: readonly WorkerStateName[] = [
  'IDLE',
  'RUNNING',
  'MAINTENANCE_PENDING',
  'MAINTENANCE_MODE',
  'TERMINATING',
  'OFFLINE',
];

const IN_MAINTENANCE: readonly WorkerStateName[] = ['MAINTENANCE_PENDING', 'MAINTENANCE_MODE'];
/** States of a worker that is neither stopping nor gone: one that can enter maintenance. */
const ACTIVE: readonly WorkerStateName[] = ['STARTING', 'IDLE', 'RUNNING', 'MAINTENANCE_EXIT'];
/** States of a worker with no live process: it can be removed, there is nothing to shut down. */
export const GONE_WORKER_STATES: readonly WorkerStateName[] = ['OFFLINE', 'UNKNOWN'];

/**
 * The state to store for a heartbeat. A graceful stop always wins; otherwise the operator's wish
 * holds until the worker says it has acted on it, so a pushed change the worker missed still shows
 * as requested (and the heartbeat response tells the worker again).
 */
export function resolveReportedState(reported: WorkerStateName, wishes: WorkerWishes): WorkerStateName {
  if (reported === 'TERMINATING' || reported === 'OFFLINE') return reported;
  if (wishes.shutdownRequested) return 'SHUTDOWN_REQUEST';
  const inMaintenance = IN_MAINTENANCE.includes(reported);
  if (wishes.maintenance) return inMaintenance ? reported : 'MAINTENANCE_REQUEST';
  return inMaintenance ? 'MAINTENANCE_EXIT' : reported;
}

/** The state right after an operator turns maintenance on or off, before the worker answers. */
export function stateAfterMaintenanceChange(current: WorkerStateName, maintenance: boolean): WorkerStateName {
  if (maintenance) return ACTIVE.includes(current) ? 'MAINTENANCE_REQUEST' : current;
  return current === 'MAINTENANCE_REQUEST' || IN_MAINTENANCE.includes(current) ? 'MAINTENANCE_EXIT' : current;
}

/** The state a (re-)registering worker starts in: maintenance survives a restart. */
export function stateAtRegistration(maintenance: boolean): WorkerStateName {
  // STARTING until its first heartbeat says how it stands.
  return maintenance ? 'MAINTENANCE_REQUEST' : 'STARTING';
}

/**
 * A worker's report squared with the jobs the server knows it holds: a worker that says IDLE while
 * it holds jobs is RUNNING, one that says RUNNING with none is IDLE. Other states stand as reported.
 */
export function reportedGivenHoldings(reported: WorkerStateName, holdsJobs: boolean): WorkerStateName {
  if (reported === 'IDLE' && holdsJobs) return 'RUNNING';
  if (reported === 'RUNNING' && !holdsJobs) return 'IDLE';
  return reported;
}

/** What a worker that said goodbye is told when it calls as if it had not. */
export const wentOfflineMessage = (name: string) => `worker ${name} reported OFFLINE; call RegisterWorker to come back`;

/** States from which no heartbeat brings a worker back: it said goodbye, it must register again. */
export const REGISTER_AGAIN_WORKER_STATES: readonly WorkerStateName[] = ['OFFLINE'];
