import os from 'node:os';
import { Flags } from '@oclif/core';
import { parseQueueList, queueNameProblem, workerNameProblem } from '../../../server/domain/names.js';
import { EdgeCommand } from '../lib/base-command.js';
import { parseApiUrls } from '../lib/api.js';
import { apiUrlsFlag, stateDirFlag } from '../lib/flags.js';
import { lineLogger } from '../runtime/logger.js';
import { EdgeWorker } from '../runtime/worker.js';

export default class Worker extends EdgeCommand {
  static override description = `Run an edge worker: connect to the API server, run the jobs of the given queues.

The worker registers under its name, holds a stream on which the server pushes jobs the moment they
fit, runs each as a child process (no shell unless the job asks for one), streams its output to the
server and reports how it ended. It writes a pid file <state-dir>/<name>.pid. SIGINT or SIGTERM (or
\`edge stop\`) drains it: no new jobs, running jobs finish, then it exits; a second one kills the running
jobs (SIGTERM to their process groups, SIGKILL after --kill-grace seconds).`;

  static override examples = [
    '<%= config.bin %> worker',
    '<%= config.bin %> worker -q remote,wisconsin_site -c 4 --name site-a-1',
    'EDGE_API_URL=http://api.example:50051 <%= config.bin %> worker',
  ];

  static override flags = {
    'api-url': apiUrlsFlag,
    concurrency: Flags.integer({ char: 'c', description: 'concurrency slots this worker offers', default: 8, min: 1, max: 1024 }),
    'kill-grace': Flags.integer({ description: 'seconds between SIGTERM and SIGKILL when a job is stopped', default: 10, min: 0 }),
    name: Flags.string({ description: 'unique worker name', default: os.hostname() }),
    queues: Flags.string({ char: 'q', description: 'comma-separated queues to serve', default: 'default', helpValue: 'a,b' }),
    'state-dir': stateDirFlag,
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

    const log = lineLogger();
    const apiUrls = parseApiUrls(flags['api-url']);
    if (!apiUrls.length) this.error('--api-url names no URL', { exit: 2 });
    const worker = new EdgeWorker({
      apiUrls,
      killGraceMs: flags['kill-grace'] * 1000,
      name: flags.name,
      queues,
      concurrency: flags.concurrency,
      stateDir: flags['state-dir'],
      log,
    });
    // The first SIGINT or SIGTERM drains; a second one kills the running jobs.
    const onSignal = (signal: NodeJS.Signals) => {
      log.info(`received ${signal}`);
      if (worker.isStopping) worker.forceStop();
      else worker.requestStop();
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    try {
      await worker.run();
    } catch (err) {
      this.error((err as Error).message, { exit: 1 });
    }
  }
}
