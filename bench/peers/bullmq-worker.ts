/** A BullMQ worker process for the peer benchmark: `concurrency` jobs at once on the local Redis. */
import { Worker } from 'bullmq';
import { childConfig, ready, serveParent } from '../lib/children.js';
import { makeHandler, type PeerMode, type Record3 } from './handler.js';

const cfg = childConfig<{ prefix: string; queue: string; concurrency: number; mode: PeerMode; redis: { host: string; port: number } }>();
let records: Record3[] = [];
let done = 0;
const handle = makeHandler(cfg.mode, records);
const worker = new Worker(cfg.queue, async (job) => handle(job.data), {
  connection: { ...cfg.redis, maxRetriesPerRequest: null },
  prefix: cfg.prefix,
  concurrency: cfg.concurrency,
  removeOnComplete: { count: 0 },
});
worker.on('completed', () => done++);

serveParent(
  async (m) => {
    if (m.type === 'count') return { completed: done };
    if (m.type === 'take') {
      const out = records.splice(0);
      return out;
    }
    throw new Error(`unknown request ${m.type}`);
  },
  () => worker.close(),
);
worker.waitUntilReady().then(ready);
