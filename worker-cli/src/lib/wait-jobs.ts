import { setTimeout as sleep } from 'node:timers/promises';
import { Code, ConnectError } from '@connectrpc/connect';
import { JobState } from '../../../gen/edge/v1/job_pb.js';
import type { Api } from './api.js';

/** What `edge job wait` reports of each job. */
export interface JobEnd {
  id: string;
  state: JobState;
  workerName: string;
  exitCode?: number;
  signal: string;
  reason: string;
}

const RECONNECT_FOR_MS = 120_000;
const FINAL_CODES = new Set([Code.InvalidArgument, Code.NotFound, Code.PermissionDenied, Code.Unauthenticated, Code.FailedPrecondition]);
export const isEnded = (s: JobState) => s === JobState.SUCCEEDED || s === JobState.FAILED || s === JobState.CANCELED;

/**
 * Waits until every job has ended, learning of each end from WatchJobs (no polling). The watch is
 * live before the jobs are read once, so an end between the two is never missed; after a dropped
 * connection the watch resumes from the last cursor received.
 */
export async function waitForJobs(api: Api, ids: string[], onEnd: (end: JobEnd) => void = () => undefined): Promise<JobEnd[]> {
  const ends = new Map<string, JobEnd>();
  const record = (end: JobEnd) => {
    if (ends.has(end.id) || !isEnded(end.state)) return;
    ends.set(end.id, end);
    onEnd(end);
  };
  let cursor = '';
  let read = false;
  let failingSince: number | undefined;
  const abort = new AbortController();
  try {
    while (ends.size < ids.length) {
      try {
        for await (const res of api.jobs.watchJobs({ cursor, jobIds: ids }, { signal: abort.signal })) {
          failingSince = undefined;
          for (const e of res.events) record({ id: e.jobId, state: e.state, workerName: e.workerName, exitCode: e.exitCode, signal: e.signal, reason: e.reason });
          cursor = res.cursor;
          if (!read) {
            for (const id of ids) {
              const { job } = await api.jobs.getJob({ id });
              record({ id, state: job!.state, workerName: job!.workerName, exitCode: job!.exitCode, signal: job!.signal, reason: job!.reason });
            }
            read = true;
          }
          if (ends.size === ids.length) break;
        }
      } catch (err) {
        const e = ConnectError.from(err);
        if (FINAL_CODES.has(e.code)) throw err;
        failingSince ??= Date.now();
        if (Date.now() - failingSince > RECONNECT_FOR_MS) throw err;
        await sleep(1_000);
      }
    }
  } finally {
    abort.abort();
  }
  return ids.map((id) => ends.get(id)!);
}
