import { Flags } from '@oclif/core';
import { EdgeCommand } from '../lib/base-command.js';
import { jsonFlag, stateDirFlag } from '../lib/flags.js';
import { LOCAL_EXIT, localStatus, localWorkerName, LocalWorkerError } from '../lib/local-worker.js';
import { printJson } from '../lib/output.js';

export default class Status extends EdgeCommand {
  static override description = `Show the edge worker running on this machine.

Its state, running jobs, slots, maintenance and its comment, and whether it is draining.

Read from the worker's status file in the state dir, so it works without the API server. Exit codes:
0 the worker runs; ${LOCAL_EXIT.noWorker} no worker of that name here (no pid file); ${LOCAL_EXIT.pidGone} its pid file names a process that is gone;
${LOCAL_EXIT.statusUnreadable} it runs but its status cannot be read.`;
  static override examples = ['<%= config.bin %> status', '<%= config.bin %> status --name site-a-1 --json'];
  static override flags = {
    json: jsonFlag,
    name: Flags.string({ description: 'name of the worker (default: the only worker here, else the host name)' }),
    'state-dir': stateDirFlag,
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Status);
    try {
      const status = localStatus(flags['state-dir'], localWorkerName(flags['state-dir'], flags.name));
      if (flags.json) return printJson(status);
      const lines: [string, string][] = [
        ['name', status.name],
        ['pid', String(status.pid)],
        ['state', status.state],
        ['draining', status.draining ? 'yes' : 'no'],
        ['maintenance', status.maintenance ? `yes: ${status.maintenanceComment || '(no comment)'}` : 'no'],
        ['queues', status.queues.join(', ')],
        ['slots', `${status.usedSlots} used, ${status.freeSlots} free of ${status.concurrency}`],
        ['jobs', status.jobs.map((j) => `${j.jobId} (attempt ${j.attempt})`).join(', ') || '-'],
        ['server', status.apiUrl],
        ['version', status.version],
        ['started', status.startedAt],
        ['updated', status.updatedAt],
      ];
      process.stdout.write(lines.map(([k, v]) => `${(k + ':').padEnd(13)} ${v}`).join('\n') + '\n');
    } catch (err) {
      if (err instanceof LocalWorkerError) this.error(err.message, { exit: err.exit });
      throw err;
    }
  }
}
