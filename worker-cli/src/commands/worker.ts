import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Flags } from '@oclif/core';
import { parseQueueList, queueNameProblem, workerNameProblem } from '../../../shared/names.js';
import { EdgeCommand } from '../lib/base-command.js';
import { parseApiUrls } from '../lib/api.js';
import { apiUrlsFlag, stateDirFlag } from '../lib/flags.js';
import { createLogger, LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from '../runtime/logger.js';
import { EdgeWorker, RefusedError } from '../runtime/worker.js';
import { resolveJobUser, type JobUser } from '../runtime/job-user.js';
import { DEFAULT_DATA_DIR, localCredential, readSecretFile } from '../lib/server-config.js';

export default class Worker extends EdgeCommand {
  static override description = `Run an edge worker: connect to the API server, run the jobs of the given queues.

The worker registers under its name, holds a stream on which the server pushes jobs the moment they
fit, runs each as a child process (no shell unless the job asks for one), streams its output to the
server and reports how it ended. It writes a pid file <state-dir>/<name>.pid and its status to
<state-dir>/<name>.status.json (\`edge status\`). SIGINT or SIGTERM (or \`edge stop\`, or an operator's
\`edge workers shutdown\`) drains it: no new jobs, running jobs finish, then it exits; a second one kills
the running jobs (SIGTERM to their process groups, SIGKILL after --kill-grace seconds). Operators change
its queues, concurrency and maintenance live (\`edge workers …\`, \`edge maintenance …\`).

Each job process gets a clean environment: the env its spec names, PATH, LANG, LANGUAGE, LC_*, TZ,
TMPDIR, HOME, USER, LOGNAME, SHELL and TERM from the worker, and EDGE_JOB_ID, EDGE_ATTEMPT, EDGE_QUEUE,
EDGE_WORKER_NAME and HOSTNAME; nothing else of the worker's environment. It runs under the umask
--umask (default 077), as the worker's user or, with --job-user, as another account that cannot read
the worker's state dir (its token). A worker whose version the server refuses exits with code 1.`;

  static override examples = [
    '<%= config.bin %> worker',
    '<%= config.bin %> worker -q remote,wisconsin_site -c 4 --name site-a-1',
    'EDGE_API_URL=http://api.example:50051 <%= config.bin %> worker',
    '<%= config.bin %> worker --log-format json --log-file /var/log/edge/worker.log --umask 027 --metrics-port 9464',
    '<%= config.bin %> worker --auto-maintenance-disk-free-mib 2048 --auto-maintenance-cpu-percent 95',
    'sudo <%= config.bin %> worker --job-user edge-job --state-dir /var/lib/edge/worker',
  ];

  static override flags = {
    'api-url': apiUrlsFlag,
    'auto-maintenance-cpu-percent': Flags.integer({ description: 'enter maintenance by itself while machine CPU use is above this (off by default)', min: 1, max: 100 }),
    'auto-maintenance-disk-free-mib': Flags.integer({ description: 'enter maintenance by itself while the work dir has less free space than this, MiB (off by default)', min: 1 }),
    concurrency: Flags.integer({ char: 'c', description: 'concurrency slots this worker offers', default: 8, min: 1, max: 1024 }),
    ca: Flags.string({ description: 'PEM file of a private CA that signed the server\'s TLS certificate', env: 'EDGE_CA_FILE', helpValue: 'FILE' }),
    'registration-secret-file': Flags.string({
      description: 'file holding the registration secret (else EDGE_REGISTRATION_SECRET, else a local server\'s data dir); used once to obtain this worker\'s own token',
      env: 'EDGE_REGISTRATION_SECRET_FILE',
      helpValue: 'FILE',
    }),
    'job-user': Flags.string({
      description: 'run jobs as this user (name or uid), which cannot read the worker\'s state dir; the worker must run as root',
      env: 'EDGE_JOB_USER',
      helpValue: 'USER',
    }),
    'kill-grace': Flags.integer({ description: 'seconds between SIGTERM and SIGKILL when a job is stopped', default: 10, min: 0 }),
    'log-file': Flags.string({ description: 'append logs to this file instead of stderr', env: 'EDGE_LOG_FILE', helpValue: 'FILE' }),
    'log-format': Flags.string({ description: 'log lines as text or as JSON objects (pino)', env: 'EDGE_LOG_FORMAT', options: LOG_FORMATS, default: 'text' }),
    'log-level': Flags.string({ description: 'lowest level logged', env: 'EDGE_LOG_LEVEL', options: LOG_LEVELS, default: 'info' }),
    'metrics-host': Flags.string({ description: 'address of the metrics endpoint', default: '127.0.0.1' }),
    'metrics-port': Flags.integer({ description: 'serve Prometheus metrics on this port at /metrics (0 picks a free one; off when absent)', min: 0, max: 65535 }),
    name: Flags.string({ description: 'unique worker name', default: os.hostname() }),
    queues: Flags.string({ char: 'q', description: 'comma-separated queues to serve', default: 'default', helpValue: 'a,b' }),
    'reported-version': Flags.string({ description: 'version to report instead of our own (compatibility tests)', env: 'EDGE_WORKER_REPORTED_VERSION', hidden: true }),
    'state-dir': stateDirFlag,
    umask: Flags.string({ description: 'umask (octal) of the jobs, e.g. 027 (the worker writes its own files 0600 in 0700 folders whatever it is)', env: 'EDGE_UMASK', default: '077', helpValue: 'OCTAL' }),
    'work-dir': Flags.string({ description: 'folder whose free disk space is reported (default: the current folder)', helpValue: 'DIR' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Worker);
    const queues = parseQueueList(flags.queues);
    if (!queues.length) this.error('--queues names no queue', { exit: 2 });
    for (const q of queues) {
      const problem = queueNameProblem(q);
      if (problem) this.error(`--queues: ${problem}`, { exit: 2 });
    }
    const nameProblem = workerNameProblem(flags.name);
    if (nameProblem) this.error(`--name: ${nameProblem}`, { exit: 2 });

    const apiUrls = parseApiUrls(flags['api-url']);
    if (!apiUrls.length) this.error('--api-url names no URL', { exit: 2 });
    if (!/^0?[0-7]{1,3}$/.test(flags.umask)) this.error(`--umask "${flags.umask}" must be an octal mask like 022 or 0027`, { exit: 2 });
    // Set on the worker process itself, first thing: every job process inherits it, and the worker's
    // own files (token, pid, status, spools) carry explicit 0600 modes in 0700 folders.
    process.umask(Number.parseInt(flags.umask, 8));
    let jobUser: JobUser | undefined;
    if (flags['job-user'] !== undefined) {
      try {
        jobUser = resolveJobUser(flags['job-user']);
      } catch (err) {
        this.error((err as Error).message, { exit: 2 });
      }
    }
    if (flags['log-file']) {
      try {
        fs.mkdirSync(path.dirname(path.resolve(flags['log-file'])), { recursive: true });
        fs.appendFileSync(flags['log-file'], '');
      } catch (err) {
        this.error(`--log-file ${flags['log-file']}: ${(err as Error).message}`, { exit: 2 });
      }
    }

    const log = createLogger({
      format: flags['log-format'] as LogFormat,
      level: flags['log-level'] as LogLevel,
      file: flags['log-file'],
      base: { worker: flags.name },
    });
    const autoMaintenance =
      flags['auto-maintenance-cpu-percent'] !== undefined || flags['auto-maintenance-disk-free-mib'] !== undefined
        ? { maxCpuPercent: flags['auto-maintenance-cpu-percent'], minDiskFreeMib: flags['auto-maintenance-disk-free-mib'] }
        : undefined;
    let registrationSecret: string | undefined;
    if (flags['registration-secret-file']) {
      registrationSecret = readSecretFile(flags['registration-secret-file']);
      if (!registrationSecret) this.error(`--registration-secret-file ${flags['registration-secret-file']} cannot be read or is empty`, { exit: 2 });
    } else {
      registrationSecret = localCredential('EDGE_REGISTRATION_SECRET', 'registration-secret');
    }
    if (flags.ca && !fs.existsSync(flags.ca)) this.error(`--ca ${flags.ca}: no such file`, { exit: 2 });
    if (!jobUser) {
      // The quickstart: server and worker as one user. Say plainly what a job could read.
      const adminToken = path.join(process.env.EDGE_DATA_DIR || DEFAULT_DATA_DIR, 'admin-token');
      if (readable(adminToken)) {
        log.warn(`jobs run as this worker's user and can read the server's admin token in ${adminToken}; on a shared machine run jobs as another user (--job-user, see docs/deployment.md)`);
      }
    }
    const worker = new EdgeWorker({
      registrationSecret,
      caFile: flags.ca,
      apiUrls,
      killGraceMs: flags['kill-grace'] * 1000,
      name: flags.name,
      queues,
      concurrency: flags.concurrency,
      stateDir: flags['state-dir'],
      log,
      version: flags['reported-version'],
      workDir: flags['work-dir'],
      metrics: flags['metrics-port'] === undefined ? undefined : { host: flags['metrics-host'], port: flags['metrics-port'] },
      autoMaintenance,
      jobUser,
    });
    // The first SIGINT or SIGTERM drains; a second one kills the running jobs.
    const onSignal = (signal: NodeJS.Signals) => {
      log.info(`received ${signal}`);
      if (worker.isStopping) worker.forceStop();
      else worker.requestStop();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    // `edge maintenance on|off` leaves a request in the state dir and sends SIGUSR2.
    process.on('SIGUSR2', () => void worker.handleLocalRequest());
    try {
      await worker.run();
    } catch (err) {
      if (err instanceof RefusedError) log.error(err.message);
      this.error((err as Error).message, { exit: 1 });
    }
    if (worker.refusal) this.error(worker.refusal, { exit: 1 });
  }
}

function readable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.R_OK);
    return true;
  } catch {
    return false;
  }
}
