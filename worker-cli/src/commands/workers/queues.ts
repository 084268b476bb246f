import { Args, Flags } from '@oclif/core';
import { parseQueueList, queueNameProblem } from '../../../../shared/names.js';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { printJson } from '../../lib/output.js';
import { workerJson } from '../../lib/worker-output.js';

export default class WorkersQueues extends ApiCommand {
  static override args = { name: Args.string({ description: 'worker name', required: true }) };
  static override description = `Change the queues a worker serves, live: it takes jobs of the new queues at once.

A restarted worker serves what its own command line (-q) says again.`;
  static override examples = ['<%= config.bin %> workers queues site-a-1 --add gpu,large', '<%= config.bin %> workers queues site-a-1 --add q1,q2 --remove q3'];
  static override flags = {
    add: Flags.string({ description: 'comma-separated queues to start serving', helpValue: 'a,b' }),
    'api-url': apiUrlFlag,
    json: jsonFlag,
    remove: Flags.string({ description: 'comma-separated queues to stop serving', helpValue: 'a,b' }),
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(WorkersQueues);
    const add = parseQueueList(flags.add ?? '');
    const remove = parseQueueList(flags.remove ?? '');
    if (!add.length && !remove.length) this.error('give --add and/or --remove', { exit: 2 });
    for (const [flag, list] of [['add', add], ['remove', remove]] as const) {
      for (const q of list) {
        const problem = queueNameProblem(q);
        if (problem) this.error(`--${flag}: ${problem}`, { exit: 2 });
      }
    }
    const { worker } = await this.connect(flags['api-url']).workers.updateWorker({ name: args.name, addQueues: add, removeQueues: remove });
    if (flags.json) return printJson(workerJson(worker!));
    this.log(`worker ${worker!.name} now serves ${worker!.queues.join(', ')}`);
  }
}
