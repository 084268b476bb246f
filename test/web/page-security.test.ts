import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { html, raw } from '../../server/web/html.js';
import { pageAuth } from '../../server/web/page-auth.js';
import { crossSite, csrfMatches, csrfToken, readCookie, sessionCookie } from '../../server/web/session.js';

const request = (headers: Record<string, string>, encrypted = false) => ({ headers, socket: { encrypted } }) as unknown as IncomingMessage;

describe('web pages: the admin seam, cookies, CSRF and escaping', () => {
  it('without an admin token no token passes; with one, only it does', async () => {
    const closed = pageAuth(undefined);
    assert.equal(closed.configured, false);
    assert.equal(await closed.verifyAdmin(''), false);
    assert.equal(await closed.verifyAdmin('anything'), false);
    const open = pageAuth('s3cret');
    assert.equal(open.configured, true);
    assert.equal(await open.verifyAdmin('s3cret'), true);
    assert.equal(await open.verifyAdmin('s3cre'), false);
    assert.equal(await open.verifyAdmin('s3cret '), false);
    assert.equal(await open.verifyAdmin(''), false);
  });

  it('the session cookie is HttpOnly, SameSite=Strict, Path=/, and Secure over TLS', () => {
    assert.equal(sessionCookie(request({}), 'a b'), 'edge_admin=a%20b; HttpOnly; SameSite=Strict; Path=/');
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
