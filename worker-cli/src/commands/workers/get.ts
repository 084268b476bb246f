import { Args } from '@oclif/core';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag } from '../../lib/flags.js';
import { describeWorker, outputFlags, outputFormat, printStructured, workerJson } from '../../lib/worker-output.js';

export default class WorkersGet extends ApiCommand {
  static override args = { name: Args.string({ description: 'worker name', required: true }) };
  static override description = 'Show one worker: state, queues, slots, maintenance comment, and its machine (CPU, memory, disk, load, OS, versions).';
  static override examples = ['<%= config.bin %> workers get site-a-1', '<%= config.bin %> workers get site-a-1 --json', '<%= config.bin %> workers get site-a-1 -o yaml'];
  static override flags = { 'api-url': apiUrlFlag, ...outputFlags };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(WorkersGet);
    const { worker } = await this.connect(flags['api-url']).workers.getWorker({ name: args.name });
    if (!printStructured(outputFormat(flags), workerJson(worker!))) process.stdout.write(describeWorker(worker!));
  }
}
