/**
 * What a Galera cluster costs a write, measured at the store (no processes, no RPC): the time of one
 * submit transaction (a job row and its change-log row) on one MariaDB of its own (private: the
 * shared one at 3306 also serves other test runs) and on a three-node cluster of its own, one writer at a time; then two writers at once through two different nodes, where the
 * change-log counter makes them conflict and retry. `npx tsx bench/tools/galera-write-latency.ts` (root).
 */
import type { JobSpecRecord } from '../../server/domain/records.js';
import type { KnexStore } from '../../server/store/knex-store.js';
import { openStore } from '../../server/store/open-store.js';
import { PrivateMariaDb } from '../../test/helpers/private-mariadb.js';
import { createEdgeDatabase } from '../lib/stores.js';
import { summarize } from '../lib/stats.js';

const N = Number(process.env.N ?? 300);
const spec: JobSpecRecord = { queue: 'q', argv: ['true'], env: {}, cwd: '', slots: 1, priority: 0, timeoutSeconds: 0, maxAttempts: 1, labels: {} };

async function submits(store: KnexStore, n: number): Promise<number[]> {
  const ms: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await store.submitJob(spec, Date.now());
    ms.push(performance.now() - t0);
  }
  return ms;
}

const line = (what: string, ms: number[], seconds?: number) => {
  const s = summarize(ms);
  console.log(`${what}: p50 ${s.p50.toFixed(1)} ms, p99 ${s.p99.toFixed(1)} ms (n ${s.n})${seconds ? `, ${(ms.length / seconds).toFixed(0)} submits/s` : ''}`);
};

for (const name of ['mariadb', 'galera'] as const) {
  const db = name === 'mariadb' ? await privateMariaDb() : await createEdgeDatabase(name);
  // On the cluster the second writer names the nodes in another order: it writes through node 2.
  const urls = name === 'galera' ? [db.url, db.url.replace(/@([^,]+),([^,]+),([^/]+)\//, '@$2,$3,$1/')] : [db.url, db.url];
  const stores = urls.map((u) => openStore(u) as KnexStore);
  try {
    await stores[0]!.migrate();
    await submits(stores[0]!, 20); // warm the pools
    await submits(stores[1]!, 20);
    line(`${name}, one writer`, await submits(stores[0]!, N));
    const t0 = performance.now();
    const both = await Promise.all(stores.map((s) => submits(s, N)));
    line(`${name}, two writers${name === 'galera' ? ' through two nodes' : ''}`, both.flat(), (performance.now() - t0) / 1000);
  } finally {
    for (const s of stores) await s.close();
    await db.drop();
  }
}

async function privateMariaDb() {
  const server = await PrivateMariaDb.create();
  return { url: server.url, drop: () => server.destroy() };
}
