import { Args } from '@oclif/core';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { printJson } from '../../lib/output.js';
import { workerJson } from '../../lib/worker-output.js';

export default class WorkersConcurrency extends ApiCommand {
  static override args = {
    name: Args.string({ description: 'worker name', required: true }),
    slots: Args.string({ description: 'slots the worker offers, 1-1024', required: true }),
  };
  static override description = `Change how many slots a worker offers, live.

Lowering it stops no running job: the worker takes new ones again once its used slots are below the
new value. A restarted worker offers what its own command line (-c) says again.`;
  static override examples = ['<%= config.bin %> workers concurrency site-a-1 16', '<%= config.bin %> workers concurrency site-a-1 2 --json'];
  static override flags = { 'api-url': apiUrlFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(WorkersConcurrency);
    const slots = Number(args.slots);
    if (!/^\d+$/.test(args.slots) || slots < 1 || slots > 1024) this.error(`SLOTS must be a whole number from 1 to 1024, got "${args.slots}"`, { exit: 2 });
    const { worker } = await this.connect(flags['api-url']).workers.updateWorker({ name: args.name, addQueues: [], removeQueues: [], concurrency: slots });
    if (flags.json) return printJson(workerJson(worker!));
    this.log(`worker ${worker!.name} now offers ${worker!.concurrency} slots (${worker!.usedSlots} used)`);
  }
}
