import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Code } from '@connectrpc/connect';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import type { RunningServer } from '../../server/app.js';
import { startTestServer } from '../helpers/test-server.js';
import { DATABASES, type TestDatabase } from '../helpers/databases.js';
import { TEST_ADMIN_TOKEN } from '../helpers/credentials.js';
import { codeOf } from '../helpers/rpc-errors.js';

const SECRET = `s3cret-${randomBytes(8).toString('hex')}`;

for (const { name: dbName, create } of DATABASES) {
  describe(`API: job secrets are write-only (${dbName})`, function () {
    let db: TestDatabase;
    const servers: RunningServer[] = [];
    const apis: Api[] = [];

    before(async () => {
      db = await create();
    });

    after(async () => {
      for (const a of apis) a.close();
      for (const s of servers) await s.close();
      await db.drop();
    });

    async function serve(withKey: boolean): Promise<Api> {
      const server = await startTestServer(db.url, withKey ? { secretKeys: { key: randomBytes(32).toString('base64') } } : {});
      servers.push(server);
      const api = connectApi(server.url, TEST_ADMIN_TOKEN);
      apis.push(api);
      return api;
    }

    it('refuses secrets on a server with no key, and takes jobs without them', async () => {
      const api = await serve(false);
      const err = await codeOf(api.jobs.submitJob({ spec: { argv: ['true'], secretEnv: { TOKEN: SECRET } } }));
      assert.equal(err.code, Code.FailedPrecondition);
      assert.match(err.message, /no key for job secrets: start it with EDGE_SECRET_KEY/);
      assert.ok((await api.jobs.submitJob({ spec: { argv: ['true'] } })).job!.id);
    });

    it('answers SubmitJob, SubmitJobs and GetJob with the names only, and refuses names without values', async () => {
      const api = await serve(true);
      const one = (await api.jobs.submitJob({ spec: { argv: ['true'], secretEnv: { TOKEN: SECRET, API_KEY: SECRET + 'x' } } })).job!;
      assert.deepEqual(one.spec!.secretEnvNames, ['API_KEY', 'TOKEN']);
      assert.deepEqual(one.spec!.secretEnv, {});
      const batch = (await api.jobs.submitJobs({ specs: [{ argv: ['true'], secretEnv: { TOKEN: SECRET } }, { argv: ['true'] }] })).jobs;
      assert.deepEqual(batch.map((j) => j.spec!.secretEnvNames), [['TOKEN'], []]);
      const got = (await api.jobs.getJob({ id: one.id })).job!;
      assert.deepEqual(got.spec!.secretEnvNames, ['API_KEY', 'TOKEN']);
      assert.deepEqual(got.spec!.secretEnv, {});
      const copied = await codeOf(api.jobs.submitJob({ spec: { argv: ['true'], secretEnvNames: ['TOKEN'] } }));
      assert.equal(copied.code, Code.InvalidArgument);
      assert.match(copied.message, /spec\.secret_env_names is filled in by the server/);
      const bad = await codeOf(api.jobs.submitJobs({ specs: [{ argv: ['true'], env: { TOKEN: 'a' }, secretEnv: { TOKEN: SECRET } }] }));
      assert.equal(bad.code, Code.InvalidArgument);
      assert.match(bad.message, /specs\[0\]\.env and specs\[0\]\.secret_env both set TOKEN/);
      assert.ok(!bad.message.includes(SECRET));
    });
  });
}
