import { Flags } from '@oclif/core';
import { JobSchema } from '../../../../gen/edge/v1/job_pb.js';
import { DEFAULT_QUEUE } from '../../../../shared/names.js';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { parseKeyValues } from '../../lib/key-values.js';
import { messageJson, printJson } from '../../lib/output.js';

export default class JobSubmit extends ApiCommand {
  static override description = `Submit a job: a command to run on a worker of its queue. Prints the job id.

Everything after "--" is the command and its arguments, run without a shell; ask for one explicitly
(-- sh -c 'echo $HOME') when you need it.`;

  static override examples = [
    '<%= config.bin %> job submit -- echo hello',
    '<%= config.bin %> job submit -q gpu --slots 2 --priority 10 -- python3 train.py --epochs 3',
    "<%= config.bin %> job submit --env GREETING=hi --json -- sh -c 'echo $GREETING'",
  ];

  static override strict = false;

  static override flags = {
    'api-url': apiUrlFlag,
    cwd: Flags.string({ description: 'working directory on the worker' }),
    env: Flags.string({ char: 'e', description: 'environment variable for the job (repeatable)', multiple: true, helpValue: 'KEY=VALUE' }),
    json: jsonFlag,
    label: Flags.string({ char: 'l', description: 'label for the job (repeatable)', multiple: true, helpValue: 'KEY=VALUE' }),
    'max-attempts': Flags.integer({ description: 'attempts allowed in all', default: 1, min: 1 }),
    priority: Flags.integer({ char: 'p', description: 'higher runs first', default: 0 }),
    queue: Flags.string({ char: 'q', description: 'queue of the job', default: DEFAULT_QUEUE }),
    slots: Flags.integer({ description: 'concurrency slots the job takes on its worker', default: 1, min: 1 }),
    timeout: Flags.integer({ description: 'run time limit in seconds (0: none)', default: 0, min: 0 }),
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(JobSubmit);
    const command = argv as string[];
    if (!command.length) this.error('no command given: put it after "--", e.g. edge job submit -- echo hello', { exit: 2 });
    let env: Record<string, string>;
    let labels: Record<string, string>;
    try {
      env = parseKeyValues('env', flags.env);
      labels = parseKeyValues('label', flags.label);
    } catch (err) {
      this.error((err as Error).message, { exit: 2 });
    }
    const api = this.connect(flags['api-url']);
    const { job } = await api.jobs.submitJob({
      spec: {
        queue: flags.queue,
        argv: command,
        env,
        labels,
        cwd: flags.cwd ?? '',
        slots: flags.slots,
        priority: flags.priority,
        timeoutSeconds: flags.timeout,
        maxAttempts: flags['max-attempts'],
      },
    });
    if (flags.json) printJson(messageJson(JobSchema, job!));
    else this.log(job!.id);
  }
}
