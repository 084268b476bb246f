import type { JobStateName } from './records.js';

/**
 * The job state machine as a worker may drive it: the one place that says which report is legal.
 * The handler checks the shape of a report (reportShapeProblem) before it reaches the store; the
 * store checks the move against the job as stored, under its row lock (judgeReport).
 */

/** States a worker may report of a job it holds. */
export const REPORTABLE_JOB_STATES: readonly JobStateName[] = ['QUEUED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED'];

export interface ReportShape {
  state: JobStateName;
  exitCode: number | null;
  signal: string | null;
}

/**
 * What is wrong with a report on its own, whatever the job's state: the field it names first.
 * A process either exits (with a code) or is killed (by a signal), never both; only exit code 0
 * is success; a start or a hand-back has no outcome to carry.
 */
export function reportShapeProblem(r: ReportShape): string | undefined {
  if (!REPORTABLE_JOB_STATES.includes(r.state)) return `state must be one of ${REPORTABLE_JOB_STATES.join(', ')}, not ${r.state}`;
  if (r.exitCode !== null && r.signal) return 'exit_code and signal exclude each other: a process exits with a code or is killed by a signal';
  switch (r.state) {
    case 'SUCCEEDED':
      if (r.exitCode !== 0) return `exit_code must be 0 for SUCCEEDED${r.exitCode === null ? '' : `, not ${r.exitCode}`}${r.signal ? '; a process killed by a signal has FAILED' : ''}`;
      return undefined;
    case 'FAILED':
      if (r.exitCode === 0) return 'exit_code 0 is SUCCEEDED, not FAILED';
      return undefined;
    case 'QUEUED':
    case 'RUNNING':
      if (r.exitCode !== null || r.signal) return `a ${r.state} report carries no exit_code or signal: the process has not ended`;
      return undefined;
    default:
      return undefined;
  }
}

export interface ReportedMove extends ReportShape {
  /** The job's state as stored. */
  from: JobStateName;
  /** Somebody asked to cancel the job. */
  cancelRequested: boolean;
  /** An end that carries its start: the process ran before RUNNING could be reported. */
  startedToo?: boolean;
}

export type Verdict =
  /** The same state again (a report re-sent after a reconnect): nothing changes. */
  | { kind: 'repeat' }
  | { kind: 'move' }
  /** A start reported after a cancel was stored: the job ends CANCELED and never runs. */
  | { kind: 'cancel-wins' }
  /** An end that carries its start, of an ASSIGNED job: RUNNING, then the end, at once. */
  | { kind: 'start-and-end' }
  | { kind: 'refused'; message: string };

/**
 * Whether a worker may move a job it holds from its stored state to the reported one:
 * ASSIGNED → RUNNING | QUEUED (hand back) | FAILED (could not start) | CANCELED (asked to),
 * RUNNING → SUCCEEDED | FAILED | CANCELED (asked to). Anything else is refused. An end that carries
 * its start moves an ASSIGNED job as its RUNNING report and then the end would, one after the other:
 * a cancel stored before it wins as it would over that RUNNING.
 */
export function judgeReport(m: ReportedMove): Verdict {
  if (m.from === m.state) return { kind: 'repeat' };
  const refuse = (why: string): Verdict => ({ kind: 'refused', message: `a job ${m.from} cannot be reported ${m.state}: ${why}` });
  if (m.from === 'ASSIGNED' && m.startedToo && (m.state === 'SUCCEEDED' || m.state === 'FAILED' || m.state === 'CANCELED')) {
    if (m.cancelRequested) return { kind: 'cancel-wins' };
    const end = judgeReport({ ...m, from: 'RUNNING', startedToo: false });
    return end.kind === 'move' ? { kind: 'start-and-end' } : end;
  }
  if (m.from === 'ASSIGNED') {
    switch (m.state) {
      case 'RUNNING':
        return m.cancelRequested ? { kind: 'cancel-wins' } : { kind: 'move' };
      case 'QUEUED':
        return { kind: 'move' };
      case 'FAILED':
        return m.exitCode === null && !m.signal ? { kind: 'move' } : refuse('it never ran, so it has no exit code or signal; report RUNNING first');
      case 'CANCELED':
        return m.cancelRequested ? { kind: 'move' } : refuse('nobody asked to cancel it; hand it back with QUEUED instead');
      default:
        return refuse('it must be RUNNING first');
    }
  }
  if (m.from === 'RUNNING') {
    switch (m.state) {
      case 'SUCCEEDED':
      case 'FAILED':
        return { kind: 'move' };
      case 'CANCELED':
        return m.cancelRequested ? { kind: 'move' } : refuse('nobody asked to cancel it; a process the worker stopped on its own has FAILED');
      case 'QUEUED':
        return refuse('a job that started cannot be handed back; report how it ended');
      default:
        return refuse('a started job can only end');
    }
  }
  if (m.from === 'QUEUED') return refuse('it is not held by any worker');
  return refuse('it has ended; terminal states never change');
}
