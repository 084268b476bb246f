import { Args, Flags } from '@oclif/core';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { printJson } from '../../lib/output.js';

export default class JobLogs extends ApiCommand {
  static override args = { id: Args.string({ description: 'job id', required: true }) };
  static override description = `Print a job's output (stdout and stderr, as the worker received them).

Works while the job runs; --follow keeps printing new output until the job ends.`;
  static override examples = ['<%= config.bin %> job logs 0193f0c4-…', '<%= config.bin %> job logs 0193f0c4-… --follow'];
  static override flags = {
    'api-url': apiUrlFlag,
    attempt: Flags.integer({ description: 'attempt to show (default: the current one)', default: 0, min: 0 }),
    follow: Flags.boolean({ char: 'f', description: 'keep printing new output until the job ends' }),
    json: jsonFlag,
  };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(JobLogs);
    if (flags.json && flags.follow) this.error('--json and --follow do not go together', { exit: 2 });
    const api = this.connect(flags['api-url']);
    if (flags.follow) {
      for await (const part of api.logs.tailLogs({ jobId: args.id, attempt: flags.attempt, offset: 0n })) {
        await write(part.data);
      }
      return;
    }
    const parts: Uint8Array[] = [];
    let offset = 0n;
    let last;
    do {
      last = await api.logs.readLogs({ jobId: args.id, attempt: flags.attempt, offset, maxBytes: 4 * 1024 * 1024 });
      if (flags.json) parts.push(last.data);
      else await write(last.data);
      offset = last.nextOffset;
    } while (last.data.length > 0 && offset < last.size);
    if (flags.json) {
      printJson({ jobId: args.id, attempt: last.attempt, size: Number(last.size), complete: last.complete, text: Buffer.concat(parts).toString('utf8') });
    }
  }
}

function write(data: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => process.stdout.write(data, (err) => (err ? reject(err) : resolve())));
}
