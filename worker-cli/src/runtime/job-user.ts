import { execFileSync } from 'node:child_process';

/** The account jobs run as (`edge worker --job-user`). */
export interface JobUser {
  user: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/**
 * Looks up the account (name or uid) through the system's user database and checks that this
 * process may start processes as it. Only root may: a job started by root as another user loses
 * every capability with the change of uid, whereas one started by a non-root worker holding
 * CAP_SETUID would keep it (ambient capabilities survive a change between non-zero uids) and could
 * become anyone. Throws with what to do otherwise.
 */
export function resolveJobUser(spec: string): JobUser {
  let entry: string;
  try {
    entry = execFileSync('getent', ['passwd', spec], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]!;
  } catch {
    throw new Error(`--job-user ${spec}: no such user on this machine`);
  }
  const [user, , uid, gid, , home, shell] = entry.split(':');
  const job: JobUser = { user: user!, uid: Number(uid), gid: Number(gid), home: home || '/', shell: shell || '/bin/sh' };
  if (!Number.isInteger(job.uid) || !Number.isInteger(job.gid)) throw new Error(`--job-user ${spec}: cannot read its uid and gid (${entry})`);
  const me = process.getuid?.() ?? -1;
  if (job.uid === me) return job;
  if (me !== 0) {
    throw new Error(
      `--job-user ${spec}: this worker runs as uid ${me} and may not start processes as another user; ` +
        'run the worker as root (each job then runs as that user, with no privileges) or drop --job-user',
    );
  }
  return job;
}
