import { connectNodeAdapter } from '@connectrpc/connect-node';
import { Dispatcher } from './dispatch/dispatcher.js';
import { EventFeed } from './dispatch/event-feed.js';
import { Notifier } from './dispatch/notifier.js';
import { listenOnePort } from './http/one-port.js';
import { routes } from './routes.js';
import type { ServiceContext } from './services/context.js';
import { errorInterceptor } from './services/error-interceptor.js';
import { MAX_CHUNK_BYTES } from './services/log-service.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/store.js';

export interface ServerConfig {
  host: string;
  port: number;
  databaseUrl: string;
  heartbeatIntervalSeconds: number;
  /** Head reservation delay (see ClaimPolicy); default 10 s. */
  reserveAfterSeconds?: number;
  /** How often this replica reads the change log for changes made through other replicas; default 100 ms. */
  eventPollMs?: number;
  log: (msg: string, err?: unknown) => void;
}

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly store: Store;
  /** Ends streams, stops listening, closes the database. */
  close(): Promise<void>;
}

/** Builds the service context and the request handler over a store. Exported for in-process tests. */
export async function buildApp(store: Store, config: Pick<ServerConfig, 'heartbeatIntervalSeconds' | 'reserveAfterSeconds' | 'eventPollMs' | 'log'>) {
  const shutdown = new AbortController();
  const feed = new EventFeed({ store, pollMs: config.eventPollMs ?? 100, log: config.log });
  await feed.start();
  const policy = { reserveAfterMs: (config.reserveAfterSeconds ?? 10) * 1000 };
  const ctx: ServiceContext = {
    store,
    feed,
    dispatcher: new Dispatcher({ store, log: config.log, feed, policy }),
    jobEvents: new Notifier(),
    now: Date.now,
    heartbeatIntervalSeconds: config.heartbeatIntervalSeconds,
    log: config.log,
  };
  const handler = connectNodeAdapter({
    routes: routes(ctx),
    interceptors: [errorInterceptor(config.log)],
    shutdownSignal: shutdown.signal,
    readMaxBytes: MAX_CHUNK_BYTES + 64 * 1024,
  });
  return {
    ctx,
    handler,
    async shutdown() {
      shutdown.abort();
      await ctx.dispatcher.close();
      await feed.close();
    },
  };
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  const store = openStore(config.databaseUrl);
  try {
    await store.migrate();
  } catch (err) {
    await store.close();
    throw err;
  }
  const app = await buildApp(store, config);
  const listener = await listenOnePort(app.handler, config.host, config.port);
  const shownHost = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    url: `http://${shownHost}:${listener.port}`,
    port: listener.port,
    store,
    async close() {
      await app.shutdown();
      await listener.close();
      await store.close();
    },
  };
}
