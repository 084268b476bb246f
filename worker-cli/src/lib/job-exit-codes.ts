import os from 'node:os';
import { JobState, type Job } from '../../../gen/edge/v1/job_pb.js';

/**
 * Exit codes of `edge run` for ends that are not the command's own exit status. They sit just under
 * the 128+N range of signals and follow `timeout` (124) and `docker run` (125, 127) where those have one.
 */
export const EXIT = {
  /** The job was canceled (by Ctrl-C or `edge job cancel`). */
  canceled: 122,
  /** The job ended without an exit status: its worker was lost, went offline or shut down, or it waited too long in the queue. */
  lost: 123,
  /** The job hit its run time limit (--timeout). */
  timedOut: 124,
  /** The job could not be submitted, or the API could not be reached to follow it. */
  notSubmitted: 125,
  /** The worker could not start the command (e.g. not found on its PATH). */
  couldNotStart: 127,
  /** Ctrl-C twice: the CLI left, the job goes on. */
  detached: 130,
} as const;

/** Help text listing the codes, for `edge run --help` and the README. */
export const EXIT_CODES_HELP = `Exit status: the command's own exit code; 128+N when a signal N ended it (e.g. 137 for SIGKILL);
${EXIT.canceled} canceled; ${EXIT.lost} lost (worker lost, offline or shut down, or queued too long); ${EXIT.timedOut} timed out (--timeout);
${EXIT.notSubmitted} could not submit (or the server could not be reached to follow the job); ${EXIT.couldNotStart} the worker could not start
the command; ${EXIT.detached} Ctrl-C twice left the job running.`;

/** How `edge run` exits for a job that has ended. */
export function exitCodeOf(job: Job): number {
  if (job.state === JobState.SUCCEEDED) return 0;
  if (job.state === JobState.CANCELED) return EXIT.canceled;
  // A timed-out process was ended by a signal too; the time limit is the reason that matters.
  if (job.reason.startsWith('timed out')) return EXIT.timedOut;
  if (job.exitCode !== undefined) return job.exitCode;
  if (job.signal) {
    const n = (os.constants.signals as Record<string, number>)[job.signal];
    return n ? 128 + n : EXIT.lost;
  }
  if (job.reason.startsWith('could not start')) return EXIT.couldNotStart;
  return EXIT.lost;
}
