import { connectNodeAdapter } from '@connectrpc/connect-node';
import { Dispatcher } from './dispatch/dispatcher.js';
import { Notifier } from './dispatch/notifier.js';
import { listenOnePort } from './http/one-port.js';
import { routes } from './routes.js';
import type { ServiceContext } from './services/context.js';
import { errorInterceptor } from './services/error-interceptor.js';
import { MAX_CHUNK_BYTES } from './services/log-service.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/store.js';
import { metricsInterceptor } from './telemetry/metrics-interceptor.js';
import { ServerMetrics } from './telemetry/server-metrics.js';
import { pagesHandler } from './http/pages.js';

export interface ServerConfig {
  host: string;
  port: number;
  databaseUrl: string;
  heartbeatIntervalSeconds: number;
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
export function buildApp(store: Store, config: Pick<ServerConfig, 'heartbeatIntervalSeconds' | 'log'>) {
  const shutdown = new AbortController();
  const metrics = new ServerMetrics(store);
  const ctx: ServiceContext = {
    store,
    dispatcher: new Dispatcher({ store, log: config.log }),
    jobEvents: new Notifier(),
    now: Date.now,
    heartbeatIntervalSeconds: config.heartbeatIntervalSeconds,
    log: config.log,
    metrics,
  };
  const handler = connectNodeAdapter({
    routes: routes(ctx),
    interceptors: [metricsInterceptor(metrics), errorInterceptor(config.log)],
    // Plain HTTP pages on the same port: /metrics for Prometheus.
    fallback: pagesHandler(metrics, config.log),
    shutdownSignal: shutdown.signal,
    readMaxBytes: MAX_CHUNK_BYTES + 64 * 1024,
  });
  return {
    ctx,
    handler,
    async shutdown() {
      shutdown.abort();
      await ctx.dispatcher.close();
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
  const app = buildApp(store, config);
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
