import { Args } from '@oclif/core';
import { JobSchema } from '../../../../gen/edge/v1/job_pb.js';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { describeJob, formatTime, jobStateName, messageJson, printJson, table } from '../../lib/output.js';

export default class JobGet extends ApiCommand {
  static override args = { id: Args.string({ description: 'job id', required: true }) };
  static override description = 'Show one job: its state, worker, exit code and times, and every attempt it took.';
  static override examples = ['<%= config.bin %> job get 0193f0c4-…', '<%= config.bin %> job get 0193f0c4-… --json'];
  static override flags = { 'api-url': apiUrlFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { args, flags } = await this.parse(JobGet);
    const api = this.connect(flags['api-url']);
    const { job } = await api.jobs.getJob({ id: args.id });
    if (flags.json) return printJson(messageJson(JobSchema, job!));
    process.stdout.write(describeJob(job!));
    const { attempts } = await api.jobs.listJobAttempts({ jobId: args.id, pageSize: 1000 });
    if (!attempts.length) return;
    process.stdout.write(
      '\n' +
        table(
          ['ATTEMPT', 'WORKER', 'STATE', 'EXIT', 'STARTED', 'ENDED', 'REASON'],
          attempts.map((a) => [
            String(a.attempt),
            a.workerName,
            jobStateName(a.state),
            a.exitCode === undefined ? a.signal || '-' : String(a.exitCode),
            formatTime(a.startTime),
            formatTime(a.endTime),
            a.reason || '-',
          ]),
        ),
    );
  }
}
