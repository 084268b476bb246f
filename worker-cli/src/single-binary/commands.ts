import MaintenanceOff from '../commands/maintenance/off.js';
import MaintenanceOn from '../commands/maintenance/on.js';
import Status from '../commands/status.js';
import Stop from '../commands/stop.js';
import Worker from '../commands/worker.js';

/**
 * The commands the single worker binary carries: the worker and what manages it on its own machine.
 * Nothing here may reach the server, the store or a database driver (the bundle build checks).
 */
export const WORKER_COMMANDS = {
  worker: Worker,
  stop: Stop,
  status: Status,
  'maintenance:on': MaintenanceOn,
  'maintenance:off': MaintenanceOff,
};
