import { Flags } from '@oclif/core';
import { sleep } from '../runtime/backoff.js';
import { localAuthor } from '../runtime/worker.js';
import { EdgeCommand } from './base-command.js';
import { stateDirFlag } from './flags.js';
import { localStatus, localWorkerName, LocalWorkerError, sendLocalRequest } from './local-worker.js';

/** `edge maintenance on|off`: ask the worker on this machine, through its state dir, to change its maintenance. */
export abstract class LocalMaintenanceCommand extends EdgeCommand {
  static override baseFlags = {
    name: Flags.string({ description: 'name of the worker (default: the only worker here, else the host name)' }),
    'state-dir': stateDirFlag,
    timeout: Flags.integer({ description: 'with --wait: give up after this many seconds (0: wait as long as it takes)', default: 0, min: 0 }),
    wait: Flags.boolean({ description: 'wait until the worker is in maintenance mode (on: running jobs drained) or out of it (off)' }),
  };

  protected async change(flags: { name?: string; 'state-dir': string; wait: boolean; timeout: number }, maintenance: boolean, comment: string): Promise<void> {
    const stateDir = flags['state-dir'];
    try {
      const name = localWorkerName(stateDir, flags.name);
      const pid = sendLocalRequest(stateDir, name, { maintenance, comment, author: localAuthor() });
      this.log(`asked worker ${name} (pid ${pid}) to ${maintenance ? 'enter' : 'leave'} maintenance`);
      if (!flags.wait) return;
      const deadline = flags.timeout ? Date.now() + flags.timeout * 1000 : Infinity;
      const done = (state: string) => (maintenance ? state === 'MAINTENANCE_MODE' : state === 'IDLE' || state === 'RUNNING');
      for (;;) {
        const status = localStatus(stateDir, name);
        if (done(status.state)) {
          this.log(`worker ${name} is ${status.state}`);
          return;
        }
        if (Date.now() > deadline) this.error(`worker ${name} is still ${status.state} after ${flags.timeout} s`, { exit: 1 });
        await sleep(200);
      }
    } catch (err) {
      if (err instanceof LocalWorkerError) this.error(err.message, { exit: err.exit });
      throw err;
    }
  }
}
