import { Flags } from '@oclif/core';
import { JobEventSchema } from '../../../../gen/edge/v1/job_service_pb.js';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag } from '../../lib/flags.js';
import { formatTime, jobStateName, messageJson } from '../../lib/output.js';

export default class JobWatch extends ApiCommand {
  static override description = `Follow job state changes as they happen, from now or from a cursor.

Each change carries a cursor; after a disconnect, --cursor resumes right after the last one seen,
missing nothing. With --json, prints one JSON object per line (JSON Lines).`;
  static override examples = [
    '<%= config.bin %> job watch',
    '<%= config.bin %> job watch --queue gpu --json',
    '<%= config.bin %> job watch --cursor 1234 --until-ended 0193f0c4-…',
  ];
  static override flags = {
    'api-url': apiUrlFlag,
    cursor: Flags.string({ description: 'resume after this cursor ("0": from the oldest change kept)' }),
    job: Flags.string({ char: 'j', description: 'only changes of this job (repeatable)', multiple: true }),
    json: Flags.boolean({ description: 'one JSON object per change and line' }),
    queue: Flags.string({ char: 'q', description: 'only changes of jobs of this queue' }),
    'until-ended': Flags.boolean({ description: 'stop once every job given with --job has ended' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(JobWatch);
    if (flags['until-ended'] && !flags.job?.length) this.error('--until-ended needs at least one --job', { exit: 2 });
    const api = this.connect(flags['api-url']);
    const open = new Set(flags.job ?? []);
    const stream = api.jobs.watchJobs({ cursor: flags.cursor ?? '', queue: flags.queue ?? '', jobIds: flags.job ?? [] });
    for await (const res of stream) {
      for (const e of res.events) {
        if (flags.json) process.stdout.write(JSON.stringify(messageJson(JobEventSchema, e)) + '\n');
        else {
          const end = e.exitCode !== undefined ? ` exit=${e.exitCode}` : e.signal ? ` signal=${e.signal}` : '';
          process.stdout.write(`${formatTime(e.time)}  ${e.cursor.padStart(8)}  ${e.jobId}  ${jobStateName(e.state).padEnd(9)}  ${e.queue}  ${e.workerName || '-'}${end}\n`);
        }
        if (['SUCCEEDED', 'FAILED', 'CANCELED'].includes(jobStateName(e.state))) open.delete(e.jobId);
      }
      if (flags['until-ended'] && open.size === 0) return;
    }
  }
}
