/**
 * Web pages under a large table: N jobs inserted through SubmitJobs (batches of 1000), then page loads
 * timed in headless Chromium (Debian's, as the browser tests use): the Jobs page five times, a filtered
 * list, the next page, the Queues page. On SQLite and MariaDB. The browser tests check what the pages
 * show; this only measures how long they take.
 */
import type { Page } from 'playwright-core';
import { TEST_ADMIN_TOKEN } from '../../test/helpers/credentials.js';
import { launchChromium, signIn } from '../../test/helpers/browser.js';
import { startEdge } from '../lib/edge.js';
import type { Row, Scenario } from '../lib/results.js';
import type { StoreName } from '../lib/stores.js';
import { r3, summarize } from '../lib/stats.js';

async function timed(page: Page, url: string): Promise<number> {
  const s = performance.now();
  await page.goto(url, { waitUntil: 'load' });
  return performance.now() - s;
}

export const webPages: Scenario = {
  name: 'web-pages',
  describe: 'Jobs and Queues page loads in headless Chromium with N jobs in the database',
  async run(ctx) {
    const jobs = ctx.quick ? 2000 : 10_000;
    const stores: StoreName[] = ctx.quick ? ['sqlite'] : ['sqlite', 'mariadb'];
    const browser = await launchChromium();
    const rows: Row[] = [];
    try {
      for (const store of stores) {
        const edge = await startEdge(store);
        const context = await browser.newContext();
        try {
          const url = edge.servers[0]!.url;
          const page = await context.newPage();
          await signIn(page, url, TEST_ADMIN_TOKEN);
          const t0 = performance.now();
          for (let b = 0; b < jobs / 1000; b++) {
            await edge.apis[0]!.jobs.submitJobs({ specs: Array.from({ length: 1000 }, (_, i) => ({ queue: 'web-bulk', argv: ['echo', String(b * 1000 + i)] })) });
          }
          const insertMs = performance.now() - t0;
          const loads: number[] = [];
          for (let i = 0; i < 5; i++) loads.push(await timed(page, `${url}/ui/jobs`));
          const rowsShown = await page.locator('tr[data-job]').count();
          if (rowsShown !== 50) throw new Error(`the Jobs page shows ${rowsShown} rows, not 50`);
          const filteredMs = await timed(page, `${url}/ui/jobs?queue=web-bulk&state=QUEUED`);
          const s = performance.now();
          await page.click('a[rel=next]');
          await page.waitForURL(/page=/);
          const nextPageMs = performance.now() - s;
          const queuesMs = await timed(page, `${url}/ui/queues`);
          const load = summarize(loads);
          rows.push({
            scenario: 'web-pages',
            system: 'edge',
            store,
            variant: `${jobs} jobs`,
            params: { jobs },
            latency: { jobsPage: load },
            metrics: { insertMs: r3(insertMs), firstLoadMs: r3(loads[0]!), filteredMs: r3(filteredMs), nextPageMs: r3(nextPageMs), queuesMs: r3(queuesMs) },
          });
          ctx.log(
            `web-pages: ${store}, ${jobs} jobs inserted in ${insertMs.toFixed(0)} ms; Jobs page first ${loads[0]!.toFixed(0)} ms, median ${load.p50.toFixed(0)} ms, ` +
              `max ${load.max.toFixed(0)} ms; filtered ${filteredMs.toFixed(0)} ms; next page ${nextPageMs.toFixed(0)} ms; Queues page ${queuesMs.toFixed(0)} ms`,
          );
        } finally {
          await context.close();
          await edge.close();
        }
      }
    } finally {
      await browser.close();
    }
    return rows;
  },
};
