import { Flags } from '@oclif/core';
import { EdgeCommand } from '../lib/base-command.js';
import { stateDirFlag } from '../lib/flags.js';
import { sleep } from '../runtime/backoff.js';
import { livePid, localWorkerName, LocalWorkerError } from '../lib/local-worker.js';
import { isAlive } from '../runtime/pid-file.js';

export default class Stop extends EdgeCommand {
  static override description = `Stop the edge worker running on this machine, gracefully.

Sends SIGINT to the worker found through its pid file: it takes no new jobs, lets running jobs finish,
uploads their output, reports itself OFFLINE and exits. By default waits until it has; with --timeout,
running jobs that outlast it are killed (SIGTERM to their process groups, SIGKILL after the grace).`;

  static override examples = ['<%= config.bin %> stop', '<%= config.bin %> stop --name site-a-1 --timeout 600', '<%= config.bin %> stop --no-wait'];

  static override flags = {
    name: Flags.string({ description: 'name of the worker to stop (default: the only worker here, else the host name)' }),
    'state-dir': stateDirFlag,
    timeout: Flags.integer({
      description: 'after this many seconds of draining, kill the running jobs (SIGTERM, SIGKILL after the worker\'s --kill-grace); 0: wait as long as it takes',
      default: 0,
      min: 0,
    }),
    wait: Flags.boolean({ description: 'wait until the worker has exited', default: true, allowNo: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(Stop);
    const stateDir = flags['state-dir'];
    let name: string;
    let pid: number;
    try {
      name = localWorkerName(stateDir, flags.name);
      pid = livePid(stateDir, name);
    } catch (err) {
      // The skeleton's exit code for "nothing to stop" stays 1 whatever the reason.
      this.error((err as Error).message, { exit: err instanceof LocalWorkerError && err.exit === 2 ? 2 : 1 });
    }
    process.kill(pid, 'SIGINT');
    if (!flags.wait) {
      this.log(`asked worker ${name} (pid ${pid}) to stop`);
      return;
    }
    this.log(`asked worker ${name} (pid ${pid}) to stop; waiting for its running jobs to finish…`);
    const deadline = flags.timeout ? Date.now() + flags.timeout * 1000 : Infinity;
    let forced = false;
    while (isAlive(pid)) {
      if (!forced && Date.now() > deadline) {
        // Like Airflow's drain_timeout_sec: a second SIGINT makes the worker kill its jobs.
        this.log(`worker ${name} still draining after ${flags.timeout} s: killing its running jobs`);
        process.kill(pid, 'SIGINT');
        forced = true;
      }
      await sleep(200);
    }
    this.log(`worker ${name} stopped${forced ? ' (running jobs were killed)' : ''}`);
  }
}
