/** A graphile-worker process for the peer benchmark: `concurrency` jobs at once on the local PostgreSQL. */
import { Logger, run, type Runner } from 'graphile-worker';
import { childConfig, ready, serveParent } from '../lib/children.js';
import { makeHandler, type PeerMode, type Record3 } from './handler.js';

const cfg = childConfig<{ connectionString: string; concurrency: number; mode: PeerMode }>();
const records: Record3[] = [];
let done = 0;
const handle = makeHandler(cfg.mode, records);
let runner: Runner | undefined;

serveParent(
  async (m) => {
    if (m.type === 'count') return { completed: done };
    if (m.type === 'take') return records.splice(0);
    throw new Error(`unknown request ${m.type}`);
  },
  async () => {
    await runner?.stop();
  },
);

run({
  connectionString: cfg.connectionString,
  concurrency: cfg.concurrency,
  noHandleSignals: true,
  pollInterval: 2000,
  // Every worker process keeps one connection per concurrent job plus its listener.
  maxPoolSize: cfg.concurrency + 2,
  logger: new Logger(() => () => {}),
  taskList: {
    bench: async (payload) => {
      await handle(payload as { t: number });
      done++;
    },
  },
}).then((r) => {
  runner = r;
  ready();
});
