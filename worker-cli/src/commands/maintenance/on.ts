import { Flags } from '@oclif/core';
import { LocalMaintenanceCommand } from '../../lib/maintenance-command.js';

export default class MaintenanceOn extends LocalMaintenanceCommand {
  static override description = `Put the worker on this machine into maintenance.

It takes no new jobs, lets running ones finish (MAINTENANCE_PENDING), then rests in MAINTENANCE_MODE.
Survives a restart of the worker. The comment is stored on the server with user@host and the time.`;
  static override examples = ['<%= config.bin %> maintenance on --comment "kernel update"', '<%= config.bin %> maintenance on --comment "disk swap" --wait'];
  static override flags = {
    comment: Flags.string({ char: 'm', description: 'why', required: true }),
  };

  async run(): Promise<void> {
    const { flags } = await this.parse(MaintenanceOn);
    if (!flags.comment.trim()) this.error('--comment must say why the worker goes into maintenance', { exit: 2 });
    await this.change(flags, true, flags.comment);
  }
}
