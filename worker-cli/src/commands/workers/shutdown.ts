import { Args, Flags } from '@oclif/core';
import { Code, ConnectError } from '@connectrpc/connect';
import { WorkerState, type Worker } from '../../../../gen/edge/v1/worker_pb.js';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { printJson } from '../../lib/output.js';
import { workerJson, workerStateName } from '../../lib/worker-output.js';
import { drainPages } from '../../../../shared/paging.js';

/** Workers with a live process: what --all asks to stop. */
const LIVE = [
  WorkerState.STARTING,
  WorkerState.IDLE,
  WorkerState.RUNNING,
  WorkerState.MAINTENANCE_REQUEST,
  WorkerState.MAINTENANCE_PENDING,
  WorkerState.MAINTENANCE_MODE,
  WorkerState.MAINTENANCE_EXIT,
];

export default class WorkersShutdown extends ApiCommand {
  static override args = { name: Args.string({ description: 'worker name (or --all)' }) };
  static override description = `Ask a remote worker (or every live worker) to stop gracefully.

The worker hears of it at once on its stream: it takes no new jobs, lets running ones finish and
upload their output, reports OFFLINE and exits. It is SHUTDOWN_REQUEST until it starts draining.`;
  static override examples = ['<%= config.bin %> workers shutdown site-a-1', '<%= config.bin %> workers shutdown --all --yes'];
  static override flags = {
    all: Flags.boolean({ description: 'every live worker' }),
    'api-url': apiUrlFlag,
    json: jsonFlag,
    yes: Flags.boolean({ char: 'y', description: 'confirm --all' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(WorkersShutdown);
    if (flags.all === Boolean(args.name)) this.error('name one worker, or give --all --yes', { exit: 2 });
    if (flags.all && !flags.yes) this.error('--all stops every live worker: add --yes to confirm', { exit: 2 });
    const api = this.connect(flags['api-url']);
    let names = args.name ? [args.name] : [];
    if (flags.all) {
      names = await drainPages(async (pageToken) => {
        const res = await api.workers.listWorkers({ pageSize: 1000, pageToken, states: LIVE });
        return { items: res.workers.map((w) => w.name), next: res.nextPageToken };
      });
    }
    const done: Worker[] = [];
    for (const name of names) {
      try {
        const { worker } = await api.workers.shutdownWorker({ name });
        done.push(worker!);
        if (!flags.json) this.log(`worker ${name}: shutdown requested (now ${workerStateName(worker!.state)})`);
      } catch (err) {
        // With --all a worker may have stopped meanwhile: that is what was wanted.
        if (!flags.all || ConnectError.from(err).code !== Code.FailedPrecondition) throw err;
      }
    }
    names = done.map((w) => w.name);
    if (flags.json) return printJson(done.map(workerJson));
    if (flags.all && !names.length) this.log('no live worker to shut down');
  }
}
