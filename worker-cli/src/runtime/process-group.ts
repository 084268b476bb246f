import fs from 'node:fs';
import path from 'node:path';
import type { Logger } from './logger.js';

export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false; // the group is already gone
  }
}

/**
 * Kills the process groups of jobs that a previous run of this worker left behind (it was killed
 * before it could stop them), and removes their spool files. Their attempts were taken back by the
 * server when that worker was presumed lost.
 */
export async function killOrphans(jobsDir: string, log: Logger, graceMs = 2000): Promise<void> {
  let files: string[];
  try {
    files = fs.readdirSync(jobsDir);
  } catch {
    return;
  }
  const groups: number[] = [];
  for (const f of files) {
    const file = path.join(jobsDir, f);
    if (f.endsWith('.pgid')) {
      const pgid = Number.parseInt(fs.readFileSync(file, 'utf8'), 10);
      const jobId = f.split('.')[0]!;
      // Pids get reused: only a group whose leader still carries the job's id is the orphan.
      if (pgid > 0 && leaderRunsJob(pgid, jobId) && signalGroup(pgid, 'SIGTERM')) {
        log.warn(`killed the orphaned process group ${pgid} of job ${f.slice(0, -'.pgid'.length).replace('.', ' attempt ')}, left by a previous run of this worker`);
        groups.push(pgid);
      }
    }
    if (f.endsWith('.pgid') || f.endsWith('.log')) fs.rmSync(file, { force: true });
  }
  if (!groups.length) return;
  await new Promise((r) => setTimeout(r, graceMs));
  for (const g of groups) signalGroup(g, 'SIGKILL');
}

function leaderRunsJob(pid: number, jobId: string): boolean {
  try {
    return fs.readFileSync(`/proc/${pid}/environ`, 'latin1').split('\0').includes(`EDGE_JOB_ID=${jobId}`);
  } catch {
    return false;
  }
}
