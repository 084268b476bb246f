import { Args } from '@oclif/core';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { printJson } from '../../lib/output.js';
import { workerJson } from '../../lib/worker-output.js';

export default class WorkersRemove extends ApiCommand {
  static override args = { name: Args.string({ description: 'worker name', required: true }) };
  static override description = 'Forget a worker that is OFFLINE or UNKNOWN. A live worker is refused: shut it down first.';
  static override examples = ['<%= config.bin %> workers remove old-site-3', '<%= config.bin %> workers remove old-site-3 --json'];
  static override flags = { 'api-url': apiUrlFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(WorkersRemove);
    const { worker } = await this.connect(flags['api-url']).workers.removeWorker({ name: args.name });
    if (flags.json) return printJson(workerJson(worker!));
    this.log(`worker ${args.name} removed`);
  }
}
