import { timestampMs } from '@bufbuild/protobuf/wkt';
import type { Job } from '../../gen/edge/v1/job_pb.js';
import type { Api } from '../../worker-cli/src/lib/api.js';

/** An attempt as ListJobAttempts tells it, with the slots its job takes: the interval it held them. */
export interface HeldSlots {
  jobId: string;
  attempt: number;
  workerName: string;
  assignedAt: number;
  endedAt: number | null;
  slots: number;
}

/** Every attempt of these jobs, read through the API (50 calls at a time). */
export async function attemptsOf(api: Api, jobs: Job[]): Promise<HeldSlots[]> {
  const out: HeldSlots[] = [];
  for (let k = 0; k < jobs.length; k += 50) {
    const pages = await Promise.all(jobs.slice(k, k + 50).map(async (job) => ({ job, res: await api.jobs.listJobAttempts({ jobId: job.id, pageSize: 100 }) })));
    for (const { job, res } of pages) {
      for (const a of res.attempts) {
        out.push({
          jobId: job.id,
          attempt: a.attempt,
          workerName: a.workerName,
          assignedAt: timestampMs(a.assignTime!),
          endedAt: a.endTime ? timestampMs(a.endTime) : null,
          slots: job.spec!.slots,
        });
      }
    }
  }
  return out;
}

/** Every job of the server, all pages of ListJobs. */
export async function allJobs(api: Api): Promise<Job[]> {
  const jobs: Job[] = [];
  let pageToken = '';
  do {
    const res = await api.jobs.listJobs({ pageSize: 1000, pageToken });
    jobs.push(...res.jobs);
    pageToken = res.nextPageToken;
  } while (pageToken);
  return jobs;
}

/** For each worker, the most slots its held attempts ever summed to, from the recorded intervals. */
export function peakSlotsByWorker(attempts: HeldSlots[]): Map<string, number> {
  const byWorker = new Map<string, { t: number; d: number }[]>();
  for (const a of attempts) {
    const points = byWorker.get(a.workerName) ?? [];
    points.push({ t: a.assignedAt, d: a.slots });
    points.push({ t: a.endedAt ?? Infinity, d: -a.slots });
    byWorker.set(a.workerName, points);
  }
  const peaks = new Map<string, number>();
  for (const [worker, points] of byWorker) {
    // At equal times a release comes before a claim: the claim read the released slots.
    points.sort((x, y) => x.t - y.t || x.d - y.d);
    let used = 0;
    let peak = 0;
    for (const p of points) {
      used += p.d;
      peak = Math.max(peak, used);
    }
    peaks.set(worker, peak);
  }
  return peaks;
}
