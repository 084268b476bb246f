import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { html, raw } from '../../server/web/html.js';
import { bootstrapCredentials } from '../../server/auth/bootstrap.js';
import { openStore } from '../../server/store/open-store.js';
import { pageAuth } from '../../server/auth/page-auth.js';
import { createSqliteDatabase } from '../helpers/databases.js';
import { crossSite, csrfMatches, csrfToken, readCookie, sessionCookie } from '../../server/web/session.js';

const request = (headers: Record<string, string>, encrypted = false) => ({ headers, socket: { encrypted } }) as unknown as IncomingMessage;

describe('web pages: the admin seam, cookies, CSRF and escaping', () => {
  it('opens pages to admin tokens only, checked as the API checks them', async () => {
    const db = await createSqliteDatabase();
    const store = openStore(db.url);
    try {
      await store.migrate();
      const admin = 'edge_admin_page_test_0123456789abcdef';
      const secret = 'edge_reg_page_test_0123456789abcdef';
      await bootstrapCredentials(store, { adminToken: admin, registrationSecret: secret }, Date.now());
      const auth = pageAuth(store);
      const session = await auth.signIn(admin);
      assert.match(session ?? '', /^[A-Za-z0-9_-]{43}$/);
      assert.ok(!session!.includes(admin));
      assert.equal((await auth.principal(session!))?.kind, 'admin');
      assert.equal(await auth.signIn(secret), undefined, 'the registration secret is no admin token');
      assert.equal(await auth.signIn(admin.slice(0, -1)), undefined);
      assert.equal(await auth.signIn(`${admin} `), undefined);
      assert.equal(await auth.signIn(''), undefined);
      assert.equal(await auth.principal(admin), undefined, 'a token is no session id');
    } finally {
      await store.close();
      await db.drop();
    }
  });

  it('the session cookie is HttpOnly, SameSite=Strict, Path=/, and Secure over TLS', () => {
    assert.equal(sessionCookie(request({}), 'a b'), 'edge_session=a%20b; HttpOnly; SameSite=Strict; Path=/');
    assert.match(sessionCookie(request({}, true), 't'), /; Secure$/);
    assert.match(sessionCookie(request({ 'x-forwarded-proto': 'https' }), 't'), /; Secure$/);
    assert.equal(readCookie(request({ cookie: 'x=1; edge_admin=a%20b; y=2' }), 'edge_admin'), 'a b');
    assert.equal(readCookie(request({ cookie: 'x=1' }), 'edge_admin'), undefined);
  });

  it('CSRF tokens are derived from the session, differ between sessions and reveal nothing of it', () => {
    const a = csrfToken('token-a');
    assert.equal(csrfToken('token-a'), a);
    assert.notEqual(csrfToken('token-b'), a);
    assert.ok(!a.includes('token-a'));
    assert.equal(csrfMatches('token-a', a), true);
    assert.equal(csrfMatches('token-b', a), false);
    assert.equal(csrfMatches('token-a', undefined), false);
    assert.equal(csrfMatches('token-a', a.slice(1)), false);
  });

  it('requests a browser marks as cross-site are refused; same-origin and header-less ones pass on', () => {
    assert.equal(crossSite(request({ host: 'edge:50051', origin: 'http://edge:50051', 'sec-fetch-site': 'same-origin' })), false);
    assert.equal(crossSite(request({ host: 'edge:50051' })), false);
    assert.equal(crossSite(request({ host: 'edge:50051', origin: 'http://evil.example' })), true);
    assert.equal(crossSite(request({ host: 'edge:50051', origin: 'null' })), true);
    assert.equal(crossSite(request({ host: 'edge:50051', 'sec-fetch-site': 'cross-site' })), true);
    assert.equal(crossSite(request({ host: 'edge:50051', 'sec-fetch-site': 'same-site' })), true);
  });

  it('every value put into a page is escaped unless it is already HTML', () => {
    const name = '<script>alert("x")</script>&\'';
    assert.equal(html`<td title="${name}">${name}</td>`.text, '<td title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&#39;</td>');
    assert.equal(html`<p>${raw('<b>ok</b>')}${[1, html`<i>${'<'}</i>`]}${undefined}${false}</p>`.text, '<p><b>ok</b>1<i>&lt;</i></p>');
  });
});
