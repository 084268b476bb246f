import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { MaintenanceChange } from '../../gen/edge/v1/worker_service_pb.js';
import { connectApi } from '../../worker-cli/src/lib/api.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { createMariaDbDatabase } from '../helpers/databases.js';
import { PROCESS_START_MS, startServerProcess, startWorkerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

describe('live worker changes across replicas', function () {
  this.timeout(60_000);

  it('an operator change made on replica A reaches a worker streaming from replica B through its stream', async () => {
    const db = await createMariaDbDatabase();
    // Heartbeats every 10 minutes: whatever the worker learns within the test came over its stream.
    const a = await startServerProcess(db.url, ['--heartbeat-interval', '600']);
    const b = await startServerProcess(db.url, ['--heartbeat-interval', '600']);
    const apiA = connectApi(a.url, TEST_ADMIN_TOKEN);
    const w = startWorkerProcess(b.url, { name: 'far', queues: 'q-far', concurrency: 2 });
    const status = () => JSON.parse(fs.readFileSync(path.join(w.stateDir, 'far.status.json'), 'utf8')) as { state: string; queues: string[]; concurrency: number };
    try {
      await waitFor('the worker to connect to B', async () => (await apiA.workers.getWorker({ name: 'far' }).catch(() => undefined))?.worker?.state === WorkerState.IDLE, PROCESS_START_MS);
      await waitFor('its status file', () => fs.existsSync(path.join(w.stateDir, 'far.status.json')));
      await apiA.workers.setWorkerMaintenance({ name: 'far', change: MaintenanceChange.ENTER, comment: 'disk swap', author: 'test' });
      await waitFor('the worker to enter maintenance', () => status().state === 'MAINTENANCE_MODE', 5000);
      await apiA.workers.updateWorker({ name: 'far', addQueues: ['q-near'], concurrency: 5 });
      await waitFor('the worker to take the new queues and concurrency', () => status().concurrency === 5 && status().queues.includes('q-near'), 5000);
      await apiA.workers.setWorkerMaintenance({ name: 'far', change: MaintenanceChange.EXIT });
      await waitFor('the worker to leave maintenance', () => status().state === 'IDLE', 5000);
      assert.match(w.output(), /entering maintenance: disk swap/);
    } finally {
      await w.stop('SIGTERM');
      apiA.close();
      await a.stop('SIGTERM');
      await b.stop('SIGTERM');
      await db.drop();
    }
  });
});
