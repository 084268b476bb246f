import { Args, Flags } from '@oclif/core';
import { MaintenanceChange } from '../../../../gen/edge/v1/worker_service_pb.js';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { printJson } from '../../lib/output.js';
import { workerJson, workerStateName } from '../../lib/worker-output.js';
import { localAuthor } from '../../runtime/worker.js';

export default class WorkersMaintenance extends ApiCommand {
  static override args = {
    name: Args.string({ description: 'worker name', required: true }),
    action: Args.string({ description: 'on, off, or comment (replace the comment)', required: true, options: ['on', 'off', 'comment'] }),
    text: Args.string({ description: 'the comment, for `comment` (or use --comment)' }),
  };
  static override description = `Put a worker into maintenance, take it out, or change its maintenance comment.

In maintenance a worker takes no new jobs and lets running ones finish (MAINTENANCE_REQUEST ->
MAINTENANCE_PENDING while jobs drain -> MAINTENANCE_MODE); off goes through MAINTENANCE_EXIT back to
IDLE. The worker hears of it at once on its stream; maintenance survives a worker restart. The comment
is stored with who wrote it (user@host) and when.`;
  static override examples = [
    '<%= config.bin %> workers maintenance site-a-1 on --comment "disk replacement, back at 14:00"',
    '<%= config.bin %> workers maintenance site-a-1 comment "delayed until 15:00"',
    '<%= config.bin %> workers maintenance site-a-1 off',
  ];
  static override flags = {
    'api-url': apiUrlFlag,
    comment: Flags.string({ char: 'm', description: 'why: required for on' }),
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(WorkersMaintenance);
    const comment = flags.comment ?? args.text ?? '';
    if (args.action !== 'off' && !comment.trim()) {
      this.error(`${args.action === 'on' ? 'on needs --comment TEXT' : 'comment needs the new TEXT'}: say why the worker is in maintenance`, { exit: 2 });
    }
    const change = { on: MaintenanceChange.ENTER, off: MaintenanceChange.EXIT, comment: MaintenanceChange.COMMENT }[args.action as 'on' | 'off' | 'comment'];
    const { worker } = await this.connect(flags['api-url']).workers.setWorkerMaintenance({ name: args.name, change, comment, author: localAuthor() });
    if (flags.json) return printJson(workerJson(worker!));
    const what = { on: 'maintenance requested', off: 'maintenance ended', comment: 'maintenance comment changed' }[args.action as 'on' | 'off' | 'comment'];
    this.log(`worker ${worker!.name}: ${what} (now ${workerStateName(worker!.state)})`);
  }
}
