import { Args } from '@oclif/core';
import { JobSchema } from '../../../../gen/edge/v1/job_pb.js';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { jobStateName, messageJson, printJson } from '../../lib/output.js';

export default class JobCancel extends ApiCommand {
  static override args = { id: Args.string({ description: 'job id', required: true }) };
  static override description = `Cancel a job. A queued job is canceled at once; a running one is stopped on its worker
(SIGTERM to its process group, SIGKILL after a grace period) and then ends CANCELED.`;
  static override examples = ['<%= config.bin %> job cancel 0193f0c4-…'];
  static override flags = { 'api-url': apiUrlFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(JobCancel);
    const { job } = await this.connect(flags['api-url']).jobs.cancelJob({ id: args.id });
    if (flags.json) return printJson(messageJson(JobSchema, job!));
    const state = jobStateName(job!.state);
    this.log(state === 'CANCELED' ? `job ${job!.id} canceled` : state === 'ASSIGNED' || state === 'RUNNING' ? `job ${job!.id} is being stopped on worker ${job!.workerName}` : `job ${job!.id} had already ended (${state})`);
  }
}
