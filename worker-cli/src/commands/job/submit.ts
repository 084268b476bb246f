import { Flags } from '@oclif/core';
import { JobSchema } from '../../../../gen/edge/v1/job_pb.js';
import { ApiCommand } from '../../lib/api-command.js';
import { MAX_BATCH, progressReporter, submitInBatches } from '../../lib/batch-submit.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { jobSpecFlags, specFromFlags } from '../../lib/job-spec-flags.js';
import { messageJson, printJson } from '../../lib/output.js';
import { readSpecFile, SpecFileError } from '../../lib/spec-file.js';

export default class JobSubmit extends ApiCommand {
  static override description = `Submit a job: a command to run on a worker of its queue. Prints the job id.

Everything after "--" is the command and its arguments, run without a shell; ask for one explicitly
(-- sh -c 'echo $HOME') when you need it. To run a command and see its output and exit status at once,
use "edge run".

--file submits many jobs from a file through SubmitJobs, in batches (--batch-size): JSON Lines, one
JobSpec per line ({"argv": ["echo", "hi"], "queue": "gpu", "slots": 2}), or YAML (.yaml/.yml: a list of
such maps). The whole file is checked first; a bad spec is reported with its line and nothing is
submitted. Each batch is stored whole or not at all; if the server refuses one, it and the batches after
it are not submitted, and the ids of the earlier batches are still printed. Prints the ids in file
order (--json: a JSON array), with progress on stderr.`;

  static override examples = [
    '<%= config.bin %> job submit -- echo hello',
    '<%= config.bin %> job submit -q gpu --slots 2 --priority 10 -- python3 train.py --epochs 3',
    "<%= config.bin %> job submit --env GREETING=hi --json -- sh -c 'echo $GREETING'",
    "DB_PASSWORD=$(cat ~/.db-pass) <%= config.bin %> job submit --secret DB_PASSWORD -- sh -c 'psql \"postgres://app:$DB_PASSWORD@db/app\" -c \"select 1\"'",
    '<%= config.bin %> job submit --file specs.jsonl --json > ids.json',
    '<%= config.bin %> job submit --file specs.yaml --batch-size 200',
  ];

  static override strict = false;

  static override flags = {
    'api-url': apiUrlFlag,
    'batch-size': Flags.integer({ description: `with --file: jobs per SubmitJobs call (at most ${MAX_BATCH})`, default: MAX_BATCH, min: 1, max: MAX_BATCH }),
    file: Flags.string({ char: 'f', description: 'submit the job specs in this file (JSON Lines, or YAML by its .yaml/.yml name)', helpValue: 'FILE' }),
    format: Flags.string({ description: 'with --file: the file format, when its name does not say', options: ['jsonl', 'yaml'] }),
    json: jsonFlag,
    ...jobSpecFlags,
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(JobSubmit);
    const command = argv as string[];
    if (flags.file) return this.submitFile(flags.file, flags, command);
    if (!command.length) this.error('no command given: put it after "--", e.g. edge job submit -- echo hello', { exit: 2 });
    let spec;
    try {
      spec = specFromFlags(flags, command);
    } catch (err) {
      this.error((err as Error).message, { exit: 2 });
    }
    const { job } = await this.connect(flags['api-url']).jobs.submitJob({ spec });
    if (flags.json) printJson(messageJson(JobSchema, job!));
    else this.log(job!.id);
  }

  private async submitFile(file: string, flags: { 'api-url': string; 'batch-size': number; format?: string; json: boolean }, command: string[]): Promise<void> {
    if (command.length) this.error('give either --file or a command after "--", not both', { exit: 2 });
    let specs;
    try {
      specs = readSpecFile(file, flags.format as 'jsonl' | 'yaml' | undefined);
    } catch (err) {
      if (err instanceof SpecFileError) this.error(`${err.message}; nothing was submitted`, { exit: 2 });
      throw err;
    }
    const result = await submitInBatches(this.connect(flags['api-url']), file, specs, flags['batch-size'], progressReporter());
    if (flags.json) printJson(result.ids);
    else if (result.ids.length) process.stdout.write(result.ids.join('\n') + '\n');
    if (result.error) {
      this.error(`${result.error}${result.ids.length ? `; the ${result.ids.length} jobs of the batches before it were submitted (their ids are on stdout)` : ''}`, { exit: 1 });
    }
  }
}
