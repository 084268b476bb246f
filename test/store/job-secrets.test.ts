import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { openStore } from '../../server/store/open-store.js';
import type { Store } from '../../server/store/store.js';
import { SecretBox } from '../../server/core/secret-box.js';
import { assignmentSecrets } from '../../server/core/assignment-secrets.js';
import { DATABASES, type TestDatabase } from '../helpers/databases.js';
import { spec } from '../helpers/job-spec.js';

const VALUES = { DB_PASSWORD: 'correct-horse-battery' };

for (const db of DATABASES) {
  describe(`store on ${db.name}: job secrets reach only the worker holding the attempt`, function () {
    let database: TestDatabase;
    let store: Store;
    let now = 1_000_000;
    const tick = () => ++now;
    const box = new SecretBox(randomBytes(32));
    const withSecrets = () => spec({ secretEnvNames: ['DB_PASSWORD'], sealedSecretEnv: box.seal(VALUES) });
    const report = (jobId: string, workerName: string, state: 'RUNNING' | 'SUCCEEDED' | 'QUEUED', attempt = 1) =>
      store.reportJob({ jobId, attempt, workerName, state, exitCode: state === 'SUCCEEDED' ? 0 : null, signal: null, reason: '' }, tick());

    beforeEach(async () => {
      database = await db.create();
      store = openStore(database.url);
      await store.migrate();
      for (const name of ['w1', 'w2']) await store.registerWorker({ name, queues: ['default'], concurrency: 1, version: '0.1.0' }, tick());
    });

    afterEach(async () => {
      await store.close();
      await database.drop();
    });

    it('stores names in the record and values only sealed; reads them back for the holder of the attempt only', async () => {
      const job = await store.submitJob(withSecrets(), tick());
      const read = (await store.getJob(job.id))!;
      assert.deepEqual(read.secretEnvNames, ['DB_PASSWORD']);
      assert.equal(JSON.stringify(read).includes(VALUES.DB_PASSWORD), false);
      assert.equal(await store.heldSecretEnv(job.id, 1, 'w1'), undefined, 'queued: nobody holds it');
      const [a] = (await store.claimJobs('w1', tick(), 1)).assigned;
      assert.equal(a!.job.id, job.id);
      assert.deepEqual(box.open((await store.heldSecretEnv(job.id, 1, 'w1'))!), VALUES);
      assert.equal(await store.heldSecretEnv(job.id, 1, 'w2'), undefined, 'another worker');
      assert.equal(await store.heldSecretEnv(job.id, 2, 'w1'), undefined, 'another attempt');
      await report(job.id, 'w1', 'RUNNING');
      assert.ok(await store.heldSecretEnv(job.id, 1, 'w1'), 'running: still held');
      await report(job.id, 'w1', 'SUCCEEDED');
      assert.equal(await store.heldSecretEnv(job.id, 1, 'w1'), undefined, 'ended: held no more');
    });

    it('sends an assignment\'s secrets while it is held, nothing once it was handed back, and fails an attempt whose secrets cannot be opened', async () => {
      const logs: string[] = [];
      const log = (m: string) => logs.push(m);
      const { job, assignment } = await store.submitAndAssign(withSecrets(), tick(), ['w1']);
      assert.ok(assignment, 'the fast path assigned it');
      assert.deepEqual(await assignmentSecrets(store, box, assignment, 'w1', tick, log), VALUES);
      await report(job.id, 'w1', 'QUEUED');
      assert.equal(await assignmentSecrets(store, box, assignment, 'w1', tick, log), undefined);
      assert.match(logs.join('\n'), /no longer held by worker w1/);

      const [again] = (await store.claimJobs('w2', tick(), 1)).assigned;
      assert.equal(again!.attempt, 2);
      const otherKey = new SecretBox(randomBytes(32));
      assert.equal(await assignmentSecrets(store, otherKey, again!, 'w2', tick, log), undefined);
      const failed = (await store.getJob(job.id))!;
      assert.equal(failed.state, 'FAILED');
      assert.match(failed.reason, /its secrets cannot be opened on this server: the job's secrets were sealed with key [0-9a-f]{16}/);
      assert.equal(logs.join('\n').includes(VALUES.DB_PASSWORD), false);
      // A job without secrets goes out with none, and asks nothing of the store.
      assert.deepEqual(await assignmentSecrets(store, undefined, { job: { ...failed, secretEnvNames: [] }, attempt: 1 }, 'w2', tick, log), {});
    });
  });
}
