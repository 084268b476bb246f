import assert from 'node:assert/strict';
import { createClient } from '@connectrpc/connect';
import { createConnectTransport } from '@connectrpc/connect-node';
import { TokenKind, TokenService } from '../../gen/edge/v1/token_service_pb.js';
import type { RunningServer } from '../../server/app.js';
import { startTestServer } from '../helpers/test-server.js';
import { DATABASES, type TestDatabase } from '../helpers/databases.js';
import { TEST_ADMIN_TOKEN, bearer } from '../helpers/credentials.js';
import { inspectDatabase } from '../helpers/raw-database.js';

for (const { name: dbName, create } of DATABASES) {
  describe(`security: web page sessions and notices (${dbName})`, function () {
    let db: TestDatabase;
    let server: RunningServer;

    before(async () => {
      db = await create();
      server = await startTestServer(db.url);
    });

    after(async () => {
      await server.close();
      await db.drop();
    });

    const form = (body: Record<string, string>) => new URLSearchParams(body).toString();
    const post = (path: string, body: Record<string, string>, cookie = '') =>
      fetch(`${server.url}${path}`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: server.url, ...(cookie ? { cookie } : {}) },
        body: form(body),
      });
    const get = (path: string, cookie: string) => fetch(`${server.url}${path}`, { redirect: 'manual', headers: { cookie } });

    async function signIn(token: string): Promise<{ cookie: string; id: string }> {
      const r = await post('/ui/signin', { token, next: '/ui/workers' });
      assert.equal(r.status, 303);
      const set = r.headers.get('set-cookie') ?? '';
      const id = decodeURIComponent(/^edge_session=([^;]*)/.exec(set)?.[1] ?? '');
      assert.ok(id, set);
      return { cookie: `edge_session=${encodeURIComponent(id)}`, id };
    }

    const csrfOf = async (cookie: string) => /name="csrf" value="([^"]+)"/.exec(await (await get('/ui/workers', cookie)).text())?.[1] ?? '';

    it('6. keeps a random session id in the cookie, stored only hashed, never the admin token', async () => {
      const { cookie, id } = await signIn(TEST_ADMIN_TOKEN);
      assert.match(id, /^[A-Za-z0-9_-]{43}$/);
      assert.ok(!id.includes(TEST_ADMIN_TOKEN) && !cookie.includes(TEST_ADMIN_TOKEN));
      assert.equal((await get('/ui/workers', cookie)).status, 200);
      const knex = inspectDatabase(db.url);
      try {
        const rows = (await knex('web_sessions').select('*')) as Record<string, unknown>[];
        assert.ok(rows.length >= 1);
        const stored = JSON.stringify(rows);
        assert.ok(!stored.includes(id), 'the session id is stored in clear');
        assert.ok(!stored.includes(TEST_ADMIN_TOKEN), 'the admin token is stored in clear');
      } finally {
        await knex.destroy();
      }
      // The admin token in the cookie is no session.
      assert.equal((await get('/ui/workers', `edge_session=${TEST_ADMIN_TOKEN}`)).status, 303);
    });

    it('6. revokes the session on sign-out: the same cookie opens nothing after', async () => {
      const { cookie } = await signIn(TEST_ADMIN_TOKEN);
      const csrf = await csrfOf(cookie);
      assert.ok(csrf);
      const out = await post('/ui/signout', { csrf }, cookie);
      assert.equal(out.status, 303);
      assert.match(out.headers.get('set-cookie') ?? '', /Max-Age=0/);
      const after = await get('/ui/workers', cookie);
      assert.equal(after.status, 303);
      assert.match(after.headers.get('location') ?? '', /^\/ui\/signin/);
    });

    it('6. ends the sessions of a revoked admin token', async () => {
      const tokens = createClient(TokenService, createConnectTransport({ baseUrl: server.url, httpVersion: '1.1', interceptors: [bearer(TEST_ADMIN_TOKEN)] }));
      const { token, secret } = await tokens.createToken({ kind: TokenKind.ADMIN, name: 'web user' });
      const { cookie } = await signIn(secret);
      assert.equal((await get('/ui/queues', cookie)).status, 200);
      await tokens.revokeToken({ id: token!.id });
      assert.equal((await get('/ui/queues', cookie)).status, 303);
    });

    it('6. shows only notices the server wrote for this session: notice= in a link puts no text on the page', async () => {
      const { cookie } = await signIn(TEST_ADMIN_TOKEN);
      const forged = await (await get(`/ui/workers?notice=${encodeURIComponent('Your session expired: call 555-0100')}&error=1`, cookie)).text();
      assert.ok(!forged.includes('555-0100'), 'a forged notice was shown');
      // A real action's notice shows, signed for this session only.
      const csrf = await csrfOf(cookie);
      const r = await post('/ui/jobs/cancel', { csrf, id: '01900000-0000-7000-8000-000000000000', back: '/ui/jobs' }, cookie);
      const location = r.headers.get('location') ?? '';
      assert.match(location, /notice=.*sig=/);
      assert.match(await (await get(location, cookie)).text(), /id="notice"[^>]*>[^<]*not found/);
      const other = await signIn(TEST_ADMIN_TOKEN);
      assert.doesNotMatch(await (await get(location, other.cookie)).text(), /id="notice"/);
    });
  });
}
