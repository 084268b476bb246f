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
 * server when that worker was presumed lost. A spool file, `<job id>.<attempt>.log`, is left for each
 * such attempt; its processes are found by the EDGE_JOB_ID and EDGE_ATTEMPT every job is started
 * with, so no file per job records its group (writing and removing one cost as much as the spool).
 */
export async function killOrphans(jobsDir: string, log: Logger, graceMs = 2000): Promise<void> {
  let files: string[];
  try {
    files = fs.readdirSync(jobsDir);
  } catch {
    return;
  }
  const left = new Set<string>();
  for (const f of files) {
    const m = /^(.+)\.(\d+)\.(log|pgid)$/.exec(f);
    if (!m) continue;
    left.add(`${m[1]}.${m[2]}`);
    // .pgid: a group file of an earlier version, whose job carries its id all the same.
    fs.rmSync(path.join(jobsDir, f), { force: true });
  }
  if (!left.size) return;
  const groups: number[] = [];
  for (const [pgid, attempt] of jobGroups(left)) {
    if (!signalGroup(pgid, 'SIGTERM')) continue;
    log.warn(`killed the orphaned process group ${pgid} of job ${attempt.replace('.', ' attempt ')}, left by a previous run of this worker`);
    groups.push(pgid);
  }
  if (!groups.length) return;
  await new Promise((r) => setTimeout(r, graceMs));
  for (const g of groups) signalGroup(g, 'SIGKILL');
}

/**
 * The process groups of the processes running these attempts (`<job id>.<attempt>`), from /proc:
 * every process of a job carries its id and attempt, so a group whose leader has exited is found
 * through the children it left. Processes whose environment cannot be read (another user's) are
 * not ours to kill.
 */
export function jobGroups(attempts: ReadonlySet<string>): Map<number, string> {
  const groups = new Map<number, string>();
  let pids: string[];
  try {
    pids = fs.readdirSync('/proc');
  } catch {
    return groups;
  }
  for (const pid of pids) {
    if (!/^\d+$/.test(pid)) continue;
    let env: string;
    let stat: string;
    try {
      env = fs.readFileSync(`/proc/${pid}/environ`, 'latin1');
      if (!env.includes('EDGE_JOB_ID=')) continue;
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    } catch {
      continue; // gone, or not ours
    }
    const vars = env.split('\0');
    const value = (name: string) => vars.find((v) => v.startsWith(`${name}=`))?.slice(name.length + 1);
    const attempt = `${value('EDGE_JOB_ID')}.${value('EDGE_ATTEMPT')}`;
    if (!attempts.has(attempt)) continue;
    // After the command's name in parentheses: state, parent pid, process group.
    const pgrp = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]);
    if (pgrp > 1) groups.set(pgrp, attempt);
  }
  return groups;
}
