import { Flags } from '@oclif/core';
import { WorkerState } from '../../../../gen/edge/v1/worker_pb.js';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag } from '../../lib/flags.js';
import { outputFlags, outputFormat, printStructured, workerJson, workersTable } from '../../lib/worker-output.js';
import { drainPages } from '../../../../shared/paging.js';

const STATES = Object.keys(WorkerState)
  .filter((k) => Number.isNaN(Number(k)) && k !== 'UNSPECIFIED')
  .map((k) => k.toLowerCase());

export default class WorkersList extends ApiCommand {
  static override description = 'List the workers the server knows, by name: state, queues, slots, version, last heartbeat.';
  static override examples = [
    '<%= config.bin %> workers list',
    '<%= config.bin %> workers list --state idle --state running',
    '<%= config.bin %> workers list -o yaml',
    '<%= config.bin %> workers list --json',
  ];
  static override flags = {
    'api-url': apiUrlFlag,
    ...outputFlags,
    state: Flags.string({ char: 's', description: 'only workers in this state (repeatable)', multiple: true, options: STATES }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(WorkersList);
    const api = this.connect(flags['api-url']);
    const states = (flags.state ?? []).map((s) => WorkerState[s.toUpperCase() as keyof typeof WorkerState]);
    const workers = await drainPages(async (pageToken) => {
      const res = await api.workers.listWorkers({ pageSize: 1000, pageToken, states });
      return { items: res.workers, next: res.nextPageToken };
    });
    if (!printStructured(outputFormat(flags), workers.map(workerJson))) process.stdout.write(workersTable(workers));
  }
}
