import { LocalMaintenanceCommand } from '../../lib/maintenance-command.js';

export default class MaintenanceOff extends LocalMaintenanceCommand {
  static override description = 'Take the worker on this machine out of maintenance: it takes jobs again.';
  static override examples = ['<%= config.bin %> maintenance off', '<%= config.bin %> maintenance off --wait --name site-a-1'];

  async run(): Promise<void> {
    const { flags } = await this.parse(MaintenanceOff);
    await this.change(flags, false, '');
  }
}
