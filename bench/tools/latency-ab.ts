/** One round of the interleaved A/B of idle-worker dispatch latency (bench/tools/latency-ab.sh): 100 jobs per store. */
import { startEdge, submit } from '../lib/edge.js';
import { sleep, summarize } from '../lib/stats.js';
for (const store of (process.env.AB_STORES ?? 'mariadb,sqlite').split(',') as ('mariadb' | 'sqlite')[]) {
  const edge = await startEdge(store);
  const sim = await edge.startSims({ count: 1, concurrency: 4 });
  const sent: any[] = [];
  for (let i = 0; i < 100; i++) { sent.push(await submit(edge.apis[0]!, ['x'])); await sleep(30); }
  await sleep(500);
  const rec: any[] = await sim.call({ type: 'take' });
  const by = new Map(rec.map((r) => [r.id, r]));
  const s = summarize(sent.filter((x) => by.has(x.id)).map((x) => by.get(x.id).recv - x.mono));
  console.log(`${store} received p50 ${s.p50} p99 ${s.p99} n ${s.n}`);
  await edge.close();
}
