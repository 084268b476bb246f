import { Args } from '@oclif/core';
import { JobSchema } from '../../../../gen/edge/v1/job_pb.js';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { describeJob, messageJson, printJson } from '../../lib/output.js';

export default class JobGet extends ApiCommand {
  static override args = { id: Args.string({ description: 'job id', required: true }) };
  static override description = 'Show one job: its state, worker, attempt, exit code and times.';
  static override examples = ['<%= config.bin %> job get 0193f0c4-…', '<%= config.bin %> job get 0193f0c4-… --json'];
  static override flags = { 'api-url': apiUrlFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(JobGet);
    const { job } = await this.connect(flags['api-url']).jobs.getJob({ id: args.id });
    if (flags.json) printJson(messageJson(JobSchema, job!));
    else process.stdout.write(describeJob(job!));
  }
}
