import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { JobState, type Job } from '../../gen/edge/v1/job_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { launchChromium, signIn } from '../helpers/browser.js';
import { createMariaDbDatabase, createSqliteDatabase, tempDir, type TestDatabase } from '../helpers/databases.js';
import { ROOT, startServerProcess, startWorkerProcess, type ServerProc, type WorkerProc } from '../helpers/processes.js';
import { waitFor } from '../helpers/wait.js';
import { TEST_ADMIN_TOKEN, TEST_REGISTRATION_SECRET } from '../helpers/credentials.js';

/** The README's screenshots are rewritten only when asked (EDGE_SCREENSHOTS=1); a test run leaves the tree clean. */
const SCREENSHOTS = process.env.EDGE_SCREENSHOTS === '1' ? path.join(ROOT, 'docs/screenshots') : tempDir('screenshots');
const TOKEN = TEST_ADMIN_TOKEN;
const TERMINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED]);

describe('web pages in a real browser (headless Chromium) against a real server and workers', function () {
  this.timeout(180_000);
  let db: TestDatabase;
  let server: ServerProc;
  let api: Api;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const workers: WorkerProc[] = [];

  before(async () => {
    db = await createSqliteDatabase();
    server = await startServerProcess(db.url, ['--heartbeat-interval', '1']);
    api = connectApi(server.url, TEST_ADMIN_TOKEN);
    workers.push(startWorkerProcess(server.url, { name: 'web-a', queues: 'web-a,web-shared', concurrency: 2 }));
    workers.push(startWorkerProcess(server.url, { name: 'web-b', queues: 'web-b', concurrency: 1 }));
    for (const w of workers) {
      await waitFor(`worker ${w.name} to be idle with system metrics`, async () => {
        const got = (await api.workers.getWorker({ name: w.name }).catch(() => undefined))?.worker;
        return got?.state === WorkerState.IDLE && got.systemInfo && got.systemInfo.memoryTotalMib > 0;
      }, 30_000);
    }
    browser = await launchChromium();
    context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
    page = await context.newPage();
    page.on('dialog', (d) => void d.accept());
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
  });

  after(async () => {
    await browser?.close();
    api?.close();
    await Promise.all(workers.map((w) => w.stop('SIGTERM', 15_000)));
    assert.equal(await server?.stop('SIGTERM'), 0);
    await db?.drop();
  });

  const submit = async (queue: string, argv: string[], slots = 1): Promise<Job> => (await api.jobs.submitJob({ spec: { queue, argv, slots } })).job!;
  const job = async (id: string) => (await api.jobs.getJob({ id })).job!;
  const shot = (name: string, p: Page = page) => p.screenshot({ path: path.join(SCREENSHOTS, `${name}.png`), fullPage: true });
  const row = (name: string) => page.locator(`tr[data-worker="${name}"]`);
  const stateOf = (name: string) => row(name).locator('.badge').first().getAttribute('data-state');

  it('sign in: a wrong token is refused; the Workers page shows both running workers with their queues and metrics', async () => {
    await page.goto(`${server.url}/ui/workers`);
    assert.match(page.url(), /\/ui\/signin/);
    await page.fill('#token', 'not-the-token');
    await page.click('button[type=submit]');
    await page.waitForURL(/failed=1/);
    assert.match(await page.textContent('main') ?? '', /not an admin token/);
    await page.fill('#token', TOKEN);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/ui\/workers$/);

    const cookie = (await context.cookies()).find((c) => c.name === 'edge_session')!;
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, 'Strict');
    assert.equal(cookie.path, '/');
    // The token is never rendered into a page.
    assert.ok(!(await page.content()).includes(TOKEN));

    for (const [name, queues, slots] of [['web-a', ['web-a', 'web-shared'], '0 / 2'], ['web-b', ['web-b'], '0 / 1']] as const) {
      await row(name).waitFor();
      assert.equal(await stateOf(name), 'IDLE');
      assert.deepEqual(await row(name).locator('.queues a').allTextContents(), queues);
      assert.equal((await row(name).locator('.slots').textContent())?.trim(), slots);
      assert.match((await row(name).locator('.metrics .cpu').textContent()) ?? '', /^CPU \d+% of \d+$/);
      assert.match((await row(name).locator('.metrics .mem').textContent()) ?? '', /^mem .+ \/ .+/);
      assert.match((await row(name).locator('.metrics .disk').textContent()) ?? '', /^disk free .+ \/ .+/);
      assert.match((await row(name).locator('.metrics .load').textContent()) ?? '', /^load [\d.]+ [\d.]+ [\d.]+$/);
      assert.match((await row(name).locator('.heartbeat').textContent()) ?? '', /\d+ s ago/);
    }
    // Filters: by name, queue and state.
    await page.goto(`${server.url}/ui/workers?queue=web-shared`);
    assert.equal(await page.locator('tr[data-worker]').count(), 1);
    await page.goto(`${server.url}/ui/workers?name=-B`);
    assert.deepEqual(await page.locator('tr[data-worker]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-worker'))), ['web-b']);
    await page.goto(`${server.url}/ui/workers?state=OFFLINE`);
    assert.equal(await page.locator('tr[data-worker]').count(), 0);
    await page.goto(`${server.url}/ui/workers`);
    await shot('workers');
    const phone = await context.newPage();
    await phone.setViewportSize({ width: 390, height: 844 });
    await phone.goto(`${server.url}/ui/workers`);
    await shot('workers-phone', phone);
    await phone.close();
  });

  it('a job page shows the log growing live while the job runs, then complete; the whole log downloads', async () => {
    const j = await submit('web-b', ['sh', '-c', 'for i in $(seq 1 8); do echo "line $i"; sleep 1; done'], 1);
    await page.goto(`${server.url}/ui/jobs/${j.id}`);
    const lines = async () => ((await page.textContent('#log')) ?? '').split('\n').filter((l) => l.startsWith('line ')).length;
    // A mark on the page's global object survives only if the page is never reloaded.
    await page.evaluate(() => ((globalThis as Record<string, unknown>).edgeNoReload = true));
    const first = await waitFor('a first line on the page', async () => (await lines()) || undefined, 20_000);
    assert.ok(first <= 5, `the job had printed ${first} lines when the page first showed some`);
    await waitFor('three more lines to appear without a reload', async () => (await lines()) >= first + 3, 20_000);
    assert.equal(await page.evaluate(() => (globalThis as Record<string, unknown>).edgeNoReload), true);
    await shot('job');
    await page.locator('#log[data-complete="1"]').waitFor({ timeout: 30_000 });
    assert.equal(await lines(), 8);
    assert.match((await page.textContent('#log-status')) ?? '', /complete/);
    await waitFor('the page to show SUCCEEDED', async () => (await page.locator('#job-state .badge').getAttribute('data-state')) === 'SUCCEEDED');
    assert.match((await page.textContent('#job-command')) ?? '', /^sh -c 'for i in/);
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#log-download')]);
    const text = fs.readFileSync((await download.path())!, 'utf8');
    assert.equal(text, Array.from({ length: 8 }, (_, i) => `line ${i + 1}\n`).join(''));
  });

  it('maintenance from the page: the state changes, the worker takes no new job; after exit it takes jobs again', async () => {
    await page.goto(`${server.url}/ui/workers`);
    await row('web-b').locator('summary').click();
    await row('web-b').locator('input[name=comment]').fill('disk swap, back at 5');
    await row('web-b').getByRole('button', { name: 'Enter maintenance' }).click();
    await page.waitForURL(/notice=/);
    assert.match((await page.textContent('#notice')) ?? '', /web-b: maintenance requested/);
    await waitFor('web-b to show MAINTENANCE_MODE on the page', async () => (await stateOf('web-b')) === 'MAINTENANCE_MODE', 20_000);
    assert.match((await row('web-b').locator('.maintenance-comment').textContent()) ?? '', /disk swap, back at 5/);
    await shot('workers-maintenance');

    const j = await submit('web-b', ['echo', 'after maintenance']);
    // Not a timing assertion: the job must simply not start while the worker is in maintenance.
    await new Promise((r) => setTimeout(r, 3000));
    assert.equal((await job(j.id)).state, JobState.QUEUED);

    await row('web-b').locator('summary').click();
    await row('web-b').locator('input[name=comment]').fill('disk swapped');
    await row('web-b').getByRole('button', { name: 'Edit comment' }).click();
    await page.waitForURL(/comment%20changed|comment\+changed/);
    assert.match((await row('web-b').locator('.maintenance-comment').textContent()) ?? '', /disk swapped/);

    await row('web-b').locator('summary').click();
    await row('web-b').getByRole('button', { name: 'Exit maintenance' }).click();
    await page.waitForURL(/leaving/);
    await waitFor('the queued job to run and end', async () => TERMINAL.has((await job(j.id)).state), 20_000);
    assert.equal((await job(j.id)).state, JobState.SUCCEEDED);
    assert.equal((await job(j.id)).workerName, 'web-b');
    await waitFor('web-b to show IDLE on the page', async () => (await stateOf('web-b')) === 'IDLE', 20_000);
  });

  it('queues, concurrency, bulk actions: changes from the page reach the worker; partial failures are reported', async () => {
    await page.goto(`${server.url}/ui/workers`);
    await row('web-a').locator('summary').click();
    await row('web-a').locator('input[name=queue][placeholder]').fill('web-extra');
    await row('web-a').getByRole('button', { name: 'Add queue' }).click();
    await page.waitForURL(/notice=/);
    assert.deepEqual(await row('web-a').locator('.queues a').allTextContents(), ['web-a', 'web-shared', 'web-extra']);
    await row('web-a').getByRole('button', { name: 'remove queue web-extra' }).click();
    await page.waitForURL(/no%20longer|no\+longer/);
    assert.deepEqual(await row('web-a').locator('.queues a').allTextContents(), ['web-a', 'web-shared']);
    // A bad queue name is the API's own InvalidArgument, shown on the page.
    await row('web-a').locator('summary').click();
    await row('web-a').locator('input[name=queue][placeholder]').fill('bad queue!');
    await row('web-a').getByRole('button', { name: 'Add queue' }).click();
    await page.waitForURL(/error=1/);
    assert.match((await page.textContent('#notice')) ?? '', /queue/);
    await row('web-a').locator('summary').click();
    await row('web-a').locator('input[name=concurrency]').fill('3');
    await row('web-a').getByRole('button', { name: 'Set concurrency' }).click();
    await page.waitForURL(/concurrency%203|concurrency\+3/);
    assert.equal((await row('web-a').locator('.slots').textContent())?.trim(), '0 / 3');
    await row('web-a').locator('summary').click();
    await row('web-a').locator('input[name=concurrency]').fill('2');
    await row('web-a').getByRole('button', { name: 'Set concurrency' }).click();
    await page.waitForURL(/concurrency%202|concurrency\+2/);

    // Shut down one worker from the page (confirmed); once it is OFFLINE, remove it together with a live
    // one: the live one cannot be removed, and the report says which went and which failed, and why.
    const c = startWorkerProcess(server.url, { name: 'web-c', queues: 'web-c' });
    workers.push(c);
    await waitFor('web-c on the page', async () => (await stateOf('web-c').catch(() => null)) === 'IDLE', 30_000);
    await row('web-c').locator('summary').click();
    await row('web-c').getByRole('button', { name: 'Shut down' }).click();
    await page.waitForURL(/shutdown%20requested|shutdown\+requested/);
    assert.equal(await c.exited, 0);
    await waitFor('web-c to show OFFLINE on the page', async () => (await stateOf('web-c')) === 'OFFLINE', 20_000);
    await row('web-a').locator('input[name=names]').check();
    await row('web-c').locator('input[name=names]').check();
    await page.getByRole('button', { name: 'Remove selected' }).click();
    await page.waitForURL(/error=1/);
    const report = (await page.textContent('#notice')) ?? '';
    assert.match(report, /^1 of 2 removed: web-c$/m);
    assert.match(report, /^web-a failed: .+/m);
    await shot('workers-bulk-report');
    assert.deepEqual(await page.locator('tr[data-worker]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-worker'))), ['web-a', 'web-b']);
  });

  it('cancel a running job from the Jobs page: it ends CANCELED', async () => {
    const j = await submit('web-a', ['sleep', '300']);
    await waitFor('the job to run', async () => (await job(j.id)).state === JobState.RUNNING, 20_000);
    await page.goto(`${server.url}/ui/jobs`);
    await shot('jobs');
    await page.goto(`${server.url}/ui/jobs?queue=web-a`);
    const jobRow = page.locator(`tr[data-job="${j.id}"]`);
    assert.equal(await jobRow.locator('.badge').getAttribute('data-state'), 'RUNNING');
    await jobRow.getByRole('button', { name: 'Cancel' }).click();
    await page.waitForURL(/notice=/);
    await waitFor('the job to end', async () => TERMINAL.has((await job(j.id)).state), 30_000);
    assert.equal((await job(j.id)).state, JobState.CANCELED);
    await waitFor('the page to show CANCELED', async () => (await page.locator(`tr[data-job="${j.id}"] .badge`).getAttribute('data-state')) === 'CANCELED', 10_000);
    // Filters: state and worker.
    await page.goto(`${server.url}/ui/jobs?state=CANCELED&worker=web-a`);
    assert.ok((await page.locator('tr[data-job]').count()) >= 1);
    assert.deepEqual(new Set(await page.locator('tr[data-job] .badge').evaluateAll((b) => b.map((x) => x.getAttribute('data-state')))), new Set(['CANCELED']));
  });

  it('the Queues page shows an oversized job as not takeable, with the reason', async () => {
    const big = await submit('web-shared', ['echo', 'too big'], 5);
    await page.goto(`${server.url}/ui/queues`);
    const q = page.locator('tr[data-queue="web-shared"]');
    await q.waitFor();
    const cell = (await q.locator('.unplaceable').textContent()) ?? '';
    assert.ok(cell.includes(big.id.slice(-12)), cell);
    assert.match(cell, /no worker of queue web-shared has 5 slots \(the largest has 2\)/);
    assert.match((await q.textContent()) ?? '', /web-a/);
    await shot('queues');
    await api.jobs.cancelJob({ id: big.id });
  });

  it('refuses what is not an admin session: no cookie, no CSRF token, cross-site origin', async () => {
    const post = (p: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${server.url}${p}`, { method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
    assert.equal((await post('/ui/jobs/cancel', 'id=x')).status, 401);
    const cookie = `edge_session=${(await context.cookies()).find((c) => c.name === 'edge_session')!.value}`;
    assert.equal((await post('/ui/workers/action', 'name=web-a&action=shutdown', { cookie })).status, 403);
    const csrf = await page.locator('input[name=csrf]').first().inputValue();
    assert.equal((await post('/ui/workers/action', `csrf=${csrf}&name=web-a&action=shutdown`, { cookie, origin: 'http://evil.example' })).status, 403);
    assert.equal((await post('/ui/workers/action', `csrf=${csrf}&name=web-a&action=shutdown`, { cookie, 'sec-fetch-site': 'cross-site' })).status, 403);
    assert.equal((await post('/ui/signin', `token=${TOKEN}`, { origin: 'http://evil.example' })).status, 403);
    assert.equal((await fetch(`${server.url}/ui/jobs`, { redirect: 'manual' })).status, 303);
    assert.equal((await fetch(`${server.url}/ui/jobs`, { redirect: 'manual', headers: { cookie: 'edge_session=wrong' } })).status, 303);
    // The admin token itself is no session.
    assert.equal((await fetch(`${server.url}/ui/jobs`, { redirect: 'manual', headers: { cookie: `edge_session=${TOKEN}` } })).status, 303);
    assert.equal((await api.workers.getWorker({ name: 'web-a' })).worker!.shutdownRequested, false);
  });

  it('opens no page to a credential that is not an admin token (the registration secret, a made-up token)', async () => {
    for (const token of [TEST_REGISTRATION_SECRET, 'edge_admin_made_up_0123456789']) {
      const r = await fetch(`${server.url}/ui/signin`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', origin: server.url },
        body: `token=${encodeURIComponent(token)}`,
      });
      assert.equal(r.headers.get('set-cookie'), null, 'no session for a non-admin credential');
      const page = await fetch(`${server.url}/ui/queues`, { redirect: 'manual', headers: { cookie: `edge_session=${encodeURIComponent(token)}` } });
      assert.equal(page.status, 303);
      assert.match(page.headers.get('location') ?? '', /\/ui\/signin/);
    }
  });

  /**
   * More jobs than one page holds: the Jobs page shows 50, newest first; the filter and the next page
   * show the right ones; the Queues page counts them. (How long these pages take with 10,000 jobs is
   * measured by `npm run bench -- --only web-pages`.)
   */
  async function pagesOverManyJobs(url: string, target: Page) {
    const client = connectApi(url, TEST_ADMIN_TOKEN);
    try {
      const { jobs } = await client.jobs.submitJobs({ specs: Array.from({ length: 120 }, (_, i) => ({ queue: 'web-bulk', argv: ['echo', String(i)] })) });
      const ids = jobs.map((j) => j.id);
      const shown = async () => target.locator('tr[data-job]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-job')!));
      await target.goto(`${url}/ui/jobs?queue=web-bulk&state=QUEUED`);
      const first = await shown();
      assert.deepEqual(first, ids.slice(-50).reverse(), 'the 50 newest, newest first');
      await target.click('a[rel=next]');
      await target.waitForURL(/page=/);
      assert.deepEqual(await shown(), ids.slice(-100, -50).reverse(), 'the next page goes on where the first ended');
      await target.goto(`${url}/ui/jobs?queue=web-bulk&state=RUNNING`);
      assert.equal((await shown()).length, 0, 'the state filter applies');
      await target.goto(`${url}/ui/queues`);
      const queued = target.locator('tr[data-queue="web-bulk"] td[data-label="Queued"]');
      assert.equal((await queued.textContent())?.trim(), '120', 'the Queues page counts the 120 queued jobs');
    } finally {
      client.close();
    }
  }

  it('pages through more jobs than one page holds, with filters, on SQLite and on MariaDB', async () => {
    await pagesOverManyJobs(server.url, page);
    const mdb = await createMariaDbDatabase();
    const other = await startServerProcess(mdb.url);
    const ctx = await browser.newContext();
    try {
      const target = await ctx.newPage();
      await signIn(target, other.url, TOKEN);
      await pagesOverManyJobs(other.url, target);
    } finally {
      await ctx.close();
      await other.stop('SIGTERM');
      await mdb.drop();
    }
  });
});
