import assert from 'node:assert/strict';
import { Code, ConnectError, createClient, createRouterTransport, type Client, type Interceptor } from '@connectrpc/connect';
import { kPrincipal } from '../../server/auth/context.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { MaintenanceChange, WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import { buildApp } from '../../server/app.js';
import { VERSION } from '../../shared/version.js';
import { routes } from '../../server/routes.js';
import { errorInterceptor } from '../../server/services/error-interceptor.js';
import { openStore } from '../../server/store/open-store.js';
import type { Store } from '../../server/store/store.js';
import { createSqliteDatabase, type TestDatabase } from '../helpers/databases.js';

async function failure(p: Promise<unknown>): Promise<{ code: Code; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = ConnectError.from(err);
    return { code: e.code, message: e.rawMessage };
  }
  throw new Error('expected the call to fail');
}

describe('WorkerService operator calls (in memory)', () => {
  let db: TestDatabase;
  let store: Store;
  let app: Awaited<ReturnType<typeof buildApp>>;
  let workers: Client<typeof WorkerService>;

  beforeEach(async () => {
    db = await createSqliteDatabase();
    store = openStore(db.url);
    await store.migrate();
    app = await buildApp(store, { heartbeatIntervalSeconds: 10, log: () => {} });
    // The same error mapping as the real server: store outcomes keep their codes.
    // In memory, the caller is set directly: workers' own calls as that worker, the rest as an admin.
    const principal: Interceptor = (next) => (req) => {
      const own = ['RegisterWorker', 'Heartbeat'].includes(req.method.name);
      const name = (req.message as { name?: string; workerName?: string }).workerName ?? (req.message as { name?: string }).name ?? '';
      req.contextValues.set(kPrincipal, own ? { kind: 'worker', tokenId: 'test', workerName: name } : { kind: 'admin', tokenId: 'test' });
      return next(req);
    };
    workers = createClient(WorkerService, createRouterTransport(routes(app.ctx), { router: { interceptors: [errorInterceptor(() => {}), principal] } }));
  });

  afterEach(async () => {
    await app.shutdown();
    await store.close();
    await db.drop();
  });

  const register = (name = 'w', version = VERSION) => workers.registerWorker({ name, queues: ['a'], concurrency: 2, version });

  it('refuses another major.minor with FailedPrecondition naming both versions, accepts another patch', async () => {
    const [major, minor] = VERSION.split('.');
    const other = `${major}.${Number(minor) + 1}.0`;
    const f = await failure(register('w', other));
    assert.equal(f.code, Code.FailedPrecondition);
    assert.ok(f.message.includes(other) && f.message.includes(VERSION), f.message);
    const ok = await register('w', `${major}.${minor}.77`);
    assert.equal(ok.settings!.maintenance, false);
    assert.deepEqual(ok.settings!.queues, ['a']);
  });

  it('names the field of bad input', async () => {
    await register();
    const cases: [Promise<unknown>, RegExp][] = [
      [workers.setWorkerMaintenance({ name: 'w', change: MaintenanceChange.UNSPECIFIED }), /^change must be/],
      [workers.setWorkerMaintenance({ name: 'w', change: MaintenanceChange.ENTER }), /^comment is required/],
      [workers.setWorkerMaintenance({ name: 'w', change: MaintenanceChange.ENTER, comment: 'x'.repeat(1025) }), /^comment is 1025 characters/],
      [workers.updateWorker({ name: 'w' }), /^nothing to change/],
      [workers.updateWorker({ name: 'w', addQueues: ['bad queue'] }), /^add_queues\[0\]: queue name/],
      [workers.updateWorker({ name: 'w', concurrency: 0 }), /^concurrency must be between 1 and 1024/],
      [workers.listWorkers({ states: [WorkerState.UNSPECIFIED] }), /^states\[0\] must be a worker state/],
      [workers.heartbeat({ workerName: 'w', state: WorkerState.SHUTDOWN_REQUEST }), /^state must be one of IDLE, RUNNING, MAINTENANCE_PENDING/],
      [workers.shutdownWorker({ name: '' }), /^name: worker name is empty/],
    ];
    for (const [call, message] of cases) {
      const f = await failure(call);
      assert.equal(f.code, Code.InvalidArgument, f.message);
      assert.match(f.message, message);
    }
  });

  it('answers NotFound for an unknown worker and FailedPrecondition for a change that does not fit its state', async () => {
    for (const call of [
      workers.setWorkerMaintenance({ name: 'nobody', change: MaintenanceChange.EXIT }),
      workers.updateWorker({ name: 'nobody', concurrency: 3 }),
      workers.shutdownWorker({ name: 'nobody' }),
      workers.removeWorker({ name: 'nobody' }),
    ]) {
      const f = await failure(call);
      assert.equal(f.code, Code.NotFound);
      assert.match(f.message, /worker nobody not found/);
    }
    await register();
    assert.equal((await failure(workers.removeWorker({ name: 'w' }))).code, Code.FailedPrecondition);
    assert.equal((await failure(workers.setWorkerMaintenance({ name: 'w', change: MaintenanceChange.COMMENT, comment: 'x' }))).code, Code.FailedPrecondition);
  });

  it('returns the wishes in heartbeat responses, so a worker that missed a push still learns them', async () => {
    await register();
    await workers.setWorkerMaintenance({ name: 'w', change: MaintenanceChange.ENTER, comment: 'why', author: 'me@here' });
    const hb = await workers.heartbeat({ workerName: 'w', state: WorkerState.IDLE });
    assert.equal(hb.worker!.state, WorkerState.MAINTENANCE_REQUEST);
    assert.equal(hb.settings!.maintenance, true);
    assert.equal(hb.settings!.maintenanceComment!.text, 'why');
    await workers.shutdownWorker({ name: 'w' });
    const hb2 = await workers.heartbeat({ workerName: 'w', state: WorkerState.MAINTENANCE_MODE });
    assert.equal(hb2.worker!.state, WorkerState.SHUTDOWN_REQUEST);
    assert.equal(hb2.settings!.shutdownRequested, true);
  });
});
