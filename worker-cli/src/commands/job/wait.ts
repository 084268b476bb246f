import { Args } from '@oclif/core';
import { ApiCommand } from '../../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../../lib/flags.js';
import { jobStateName, printJson, table } from '../../lib/output.js';
import { waitForJobs, type JobEnd } from '../../lib/wait-jobs.js';
import { JobState } from '../../../../gen/edge/v1/job_pb.js';

export default class JobWait extends ApiCommand {
  static override args = { ids: Args.string({ description: 'ids of the jobs to wait for', required: true }) };
  static override description = `Wait until jobs have ended, then print a summary table.

Learns of each end as it happens, through WatchJobs (no polling), and rides out a dropped connection.
Exits 0 when every job SUCCEEDED, 1 when any FAILED or was CANCELED. Takes up to 1000 ids.`;
  static override examples = [
    '<%= config.bin %> job wait 0193f0c4-… 0193f0c5-…',
    '<%= config.bin %> job wait $(<%= config.bin %> job submit --file specs.jsonl)',
    '<%= config.bin %> job wait --json 0193f0c4-…',
  ];
  static override flags = { 'api-url': apiUrlFlag, json: jsonFlag };
  static override strict = false;

  async run(): Promise<void> {
    const { argv, flags } = await this.parse(JobWait);
    const ids = [...new Set(argv as string[])];
    if (ids.length > 1000) this.error(`${ids.length} job ids given; wait for at most 1000 at a time`, { exit: 2 });
    const quiet = flags.json || !process.stderr.isTTY;
    const ends = await waitForJobs(this.connect(flags['api-url']), ids, (end) => {
      if (!quiet) process.stderr.write(`${end.id} ${jobStateName(end.state)}\n`);
    });
    if (flags.json) printJson(ends.map((e) => ({ id: e.id, state: jobStateName(e.state), workerName: e.workerName, exitCode: e.exitCode, signal: e.signal || undefined, reason: e.reason || undefined })));
    else {
      process.stdout.write(table(['ID', 'STATE', 'EXIT', 'WORKER', 'REASON'], ends.map((e) => [e.id, jobStateName(e.state), exitOf(e), e.workerName || '-', e.reason || '-'])));
      const failed = ends.filter((e) => e.state !== JobState.SUCCEEDED).length;
      process.stdout.write(`${ends.length - failed} of ${ends.length} succeeded${failed ? `, ${failed} did not` : ''}\n`);
    }
    if (ends.some((e) => e.state !== JobState.SUCCEEDED)) this.exit(1);
  }
}

const exitOf = (e: JobEnd) => (e.exitCode !== undefined ? String(e.exitCode) : e.signal || '-');
