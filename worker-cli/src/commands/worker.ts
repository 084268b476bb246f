import os from 'node:os';
import { Flags } from '@oclif/core';
import { parseQueueList, queueNameProblem, workerNameProblem } from '../../../server/domain/names.js';
import { EdgeCommand } from '../lib/base-command.js';
import { apiUrlFlag, stateDirFlag } from '../lib/flags.js';
import { lineLogger } from '../runtime/logger.js';
import { EdgeWorker } from '../runtime/worker.js';

export default class Worker extends EdgeCommand {
  static override description = `Run an edge worker: connect to the API server, run the jobs of the given queues.

The worker registers under its name, holds a stream on which the server pushes jobs the moment they
fit, runs each as a child process (no shell unless the job asks for one), streams its output to the
server and reports how it ended. It writes a pid file <state-dir>/<name>.pid. SIGINT or SIGTERM (or
\`edge stop\`) drains it: no new jobs, running jobs finish, then it exits.`;

  static override examples = [
    '<%= config.bin %> worker',
    '<%= config.bin %> worker -q remote,wisconsin_site -c 4 --name site-a-1',
    'EDGE_API_URL=http://api.example:50051 <%= config.bin %> worker',
  ];

  static override flags = {
    'api-url': apiUrlFlag,
    concurrency: Flags.integer({ char: 'c', description: 'concurrency slots this worker offers', default: 8, min: 1, max: 1024 }),
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
    const worker = new EdgeWorker({
      apiUrl: flags['api-url'],
      name: flags.name,
      queues,
      concurrency: flags.concurrency,
      stateDir: flags['state-dir'],
      log,
    });
    const onSignal = (signal: NodeJS.Signals) => {
      log.info(`received ${signal}`);
      worker.requestStop();
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
