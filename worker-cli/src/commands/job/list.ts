import { Flags } from '@oclif/core';
import { JobSchema, JobState } from '../../../../gen/edge/v1/job_pb.js';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { formatTime, jobStateName, messageJson, printJson, table } from '../../lib/output.js';
import { drainPages } from '../../../../shared/paging.js';

const STATE_NAMES = ['queued', 'assigned', 'running', 'succeeded', 'failed', 'canceled'];

export default class JobList extends ApiCommand {
  static override description = 'List jobs, newest first.';
  static override examples = ['<%= config.bin %> job list', '<%= config.bin %> job list --state running --queue gpu', '<%= config.bin %> job list --json --limit 1000'];
  static override flags = {
    'api-url': apiUrlFlag,
    json: jsonFlag,
    limit: Flags.integer({ description: 'jobs to show at most', default: 50, min: 1, max: 100_000 }),
    queue: Flags.string({ char: 'q', description: 'only jobs of this queue' }),
    state: Flags.string({ char: 's', description: 'only jobs in this state (repeatable)', multiple: true, options: STATE_NAMES }),
    worker: Flags.string({ char: 'w', description: 'only jobs of this worker' }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(JobList);
    const api = this.connect(flags['api-url']);
    const states = (flags.state ?? []).map((s) => JobState[s.toUpperCase() as keyof typeof JobState]);
    const jobs = await drainPages(async (pageToken, want) => {
      const res = await api.jobs.listJobs({ queue: flags.queue ?? '', states, workerName: flags.worker ?? '', pageSize: Math.min(1000, want), pageToken });
      return { items: res.jobs, next: res.nextPageToken };
    }, flags.limit);

    if (flags.json) return printJson(jobs.map((j) => messageJson(JobSchema, j)));
    process.stdout.write(
      table(
        ['ID', 'STATE', 'QUEUE', 'WORKER', 'EXIT', 'SUBMITTED', 'COMMAND'],
        jobs.map((j) => [
          j.id,
          jobStateName(j.state),
          j.spec?.queue ?? '',
          j.workerName || '-',
          j.exitCode === undefined ? (j.signal || '-') : String(j.exitCode),
          formatTime(j.createTime),
          (j.spec?.argv ?? []).join(' ').slice(0, 60),
        ]),
      ),
    );
  }
}
