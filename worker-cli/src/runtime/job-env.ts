/**
 * What a job's environment holds: the variables its spec names, a few of the worker's that describe
 * the machine rather than the worker (JOB_ENV_ALLOWED, LC_*), and the EDGE_* variables that say which
 * job and attempt it is. Nothing else of the worker's environment reaches a job: no registration
 * secret, no token, nothing a unit's EnvironmentFile set for the worker itself.
 */
export const JOB_ENV_ALLOWED = ['PATH', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'TERM'] as const;

const allowed = (name: string) => (JOB_ENV_ALLOWED as readonly string[]).includes(name) || name.startsWith('LC_');

/**
 * The allowed variables of an environment. The worker's own is read once: every read of
 * process.env goes to the C library's environment, which cost more per job than the rest of
 * building the job's environment together.
 */
const picked = new WeakMap<object, Record<string, string>>();
function allowedPart(inherited: NodeJS.ProcessEnv): Record<string, string> {
  let part = picked.get(inherited);
  if (!part) {
    part = {};
    for (const [k, v] of Object.entries(inherited)) if (v !== undefined && allowed(k)) part[k] = v;
    picked.set(inherited, part);
  }
  return part;
}

export interface JobIdentity {
  jobId: string;
  attempt: number;
  queue: string;
  workerName: string;
  hostname: string;
}

/** The environment a job starts with; `account` replaces HOME, USER, LOGNAME and SHELL when jobs run as another user. */
export function jobEnvironment(
  inherited: NodeJS.ProcessEnv,
  own: Record<string, string>,
  id: JobIdentity,
  account?: { home: string; user: string; shell: string },
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...allowedPart(inherited) };
  if (account) Object.assign(env, { HOME: account.home, USER: account.user, LOGNAME: account.user, SHELL: account.shell });
  Object.assign(env, own, {
    EDGE_JOB_ID: id.jobId,
    EDGE_ATTEMPT: String(id.attempt),
    EDGE_QUEUE: id.queue,
    EDGE_WORKER_NAME: id.workerName,
    HOSTNAME: id.hostname,
  });
  return env;
}
