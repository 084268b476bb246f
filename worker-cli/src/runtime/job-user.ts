import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

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
 * process may start processes as it: root, or a process with CAP_SETUID and CAP_SETGID. Throws with
 * what to do otherwise.
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
  if (me !== 0 && !hasSetIdCapabilities()) {
    throw new Error(
      `--job-user ${spec}: this worker runs as uid ${me} and may not start processes as another user; ` +
        'run it as root or give it CAP_SETUID and CAP_SETGID (AmbientCapabilities in its systemd unit), or drop --job-user',
    );
  }
  return job;
}

/** Whether the effective capabilities hold CAP_SETGID (6) and CAP_SETUID (7). */
function hasSetIdCapabilities(): boolean {
  try {
    const line = /^CapEff:\s*([0-9a-f]+)/m.exec(fs.readFileSync('/proc/self/status', 'utf8'));
    if (!line) return false;
    const caps = BigInt(`0x${line[1]}`);
    return (caps & 0xc0n) === 0xc0n;
  } catch {
    return false;
  }
}
