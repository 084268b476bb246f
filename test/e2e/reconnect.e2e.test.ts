import assert from 'node:assert/strict';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { connectApi } from '../../worker-cli/src/lib/api.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { createSqliteDatabase } from '../helpers/databases.js';
import { startServerProcess, startWorkerProcess } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';

describe('worker reconnects when the server goes away', function () {
  this.timeout(60_000);

  it('keeps serving after the server restarts on the same address, with no worker restart', async () => {
    const db = await createSqliteDatabase();
    let server = await startServerProcess(db.url);
    const port = new URL(server.url).port;
    const worker = startWorkerProcess(server.url, { name: 'phoenix', queues: 'rc' });
    try {
      let api = connectApi(server.url, TEST_ADMIN_TOKEN);
      const first = (await api.jobs.submitJob({ spec: { queue: 'rc', argv: ['echo', 'one'] } })).job!;
      await waitFor('the first job', async () => (await api.jobs.getJob({ id: first.id })).job!.state === JobState.SUCCEEDED);
      api.close();

      assert.equal(await server.stop('SIGTERM'), 0);
      await waitFor('the worker to notice', () => /job stream (ended by the server|lost)/.test(worker.output()));
      server = await startServerProcess(db.url, [], Number(port));
      api = connectApi(server.url, TEST_ADMIN_TOKEN);
      const second = (await api.jobs.submitJob({ spec: { queue: 'rc', argv: ['echo', 'two'] } })).job!;
      const done = await waitFor('the second job', async () => {
        const j = (await api.jobs.getJob({ id: second.id })).job!;
        return j.state === JobState.SUCCEEDED ? j : undefined;
      });
      assert.equal(done.workerName, 'phoenix');
      assert.equal(Buffer.from((await api.logs.readLogs({ jobId: second.id })).data).toString(), 'two\n');
      api.close();
      assert.equal(worker.child.exitCode, null, 'the worker never exited');
    } finally {
      await worker.stop('SIGTERM');
      await server.stop('SIGTERM');
      await db.drop();
    }
  });
});
