import { Flags } from '@oclif/core';
import { ApiCommand } from '../lib/api-command.js';
import { apiUrlFlag } from '../lib/flags.js';
import { EXIT_CODES_HELP } from '../lib/job-exit-codes.js';
import { jobSpecFlags, specFromFlags } from '../lib/job-spec-flags.js';
import { runJob } from '../lib/run-job.js';

export default class Run extends ApiCommand {
  static override description = `Run a command on a worker as if it were local: submit it, wait, stream its output, exit with its status.

While the job waits, one status line on stderr says why (its queue, or e.g. "no worker of queue gpu has 4
slots"). Then its output streams live. The server keeps stdout and stderr as one log, in the order the
worker received them, so both come out on stdout here. If the connection drops (a server restart), the
output resumes from the last byte shown: nothing twice, nothing missed.

Ctrl-C once cancels the job and waits for it to end; Ctrl-C twice leaves it running and prints how to
follow it. --detach only submits and prints the job id.

${EXIT_CODES_HELP}

Everything after "--" is the command and its arguments, run without a shell; ask for one explicitly
(-- sh -c 'echo $HOME') when you need it.`;

  static override examples = [
    '<%= config.bin %> run -- uname -a',
    "<%= config.bin %> run -q gpu --slots 4 -- sh -c 'nvidia-smi; python3 train.py'",
    '<%= config.bin %> run --timeout 60 -- ./backup.sh && echo done',
    '<%= config.bin %> run --detach -- sleep 600',
    '<%= config.bin %> run --secret API_KEY --secret-file DB_PASSWORD=/run/secrets/db -- ./sync.sh',
  ];

  static override strict = false;

  static override flags = {
    'api-url': apiUrlFlag,
    detach: Flags.boolean({ char: 'd', description: 'submit, print the job id and return at once' }),
    ...jobSpecFlags,
  };

  async run(): Promise<void> {
    const { flags, argv } = await this.parse(Run);
    const command = argv as string[];
    if (!command.length) this.error('no command given: put it after "--", e.g. edge run -- echo hello', { exit: 2 });
    let spec;
    try {
      spec = specFromFlags(flags, command);
    } catch (err) {
      this.error((err as Error).message, { exit: 2 });
    }
    const code = await runJob(this.connect(flags['api-url']), spec, { detach: flags.detach, bin: this.config.bin });
    if (code !== 0) this.exit(code);
  }
}
