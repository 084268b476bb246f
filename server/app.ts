import { connectNodeAdapter } from '@connectrpc/connect-node';
import { Dispatcher } from './dispatch/dispatcher.js';
import { EventFeed } from './dispatch/event-feed.js';
import { Housekeeping } from './dispatch/housekeeping.js';
import { Notifier } from './dispatch/notifier.js';
import { Publisher } from './core/publisher.js';
import { ShutdownSignal } from './http/shutdown-signal.js';
import { DEFAULT_HEARTBEAT_FLUSH_MS, HeartbeatDesk } from './core/heartbeat-desk.js';
import { listenOnePort } from './http/one-port.js';
import { speedUpProtobuf } from '../shared/protobuf-speed.js';
import type { ConnectionLimits } from './http/connection-guard.js';

// What the CLI's `server` command needs, from the server's one entry point.
export { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from './http/connection-guard.js';
import { LogService } from '../gen/edge/v1/log_service_pb.js';
import { edgeServices, routes } from './routes.js';
import { grpcShortPath } from './http/grpc-calls.js';
import { DEFAULT_STREAM_KEEPALIVE_MS, type ServiceContext } from './services/context.js';
import { errorInterceptor } from './services/error-interceptor.js';
import { MAX_CHUNK_BYTES } from './services/log-service.js';
import { openStore } from './store/open-store.js';
import type { Store } from './store/store.js';
import { metricsInterceptor } from './telemetry/metrics-interceptor.js';
import { ServerMetrics } from './telemetry/server-metrics.js';
import { pagesHandler } from './http/pages.js';
import { pageAuth } from './auth/page-auth.js';
import { webUi } from './web/web-ui.js';
import { malformedIsInvalid } from './http/malformed-requests.js';
import { authInterceptor } from './auth/auth-interceptor.js';
import { authenticate, bearerToken } from './auth/authenticate.js';
import { deadlineInterceptor } from './services/deadline-interceptor.js';
import { bootstrapCredentials, type BootstrapOptions } from './auth/bootstrap.js';
import { loadSecretBox, type SecretKeyOptions } from './auth/secret-key.js';
import type { SecretBox } from './core/secret-box.js';

export interface ServerConfig {
  host: string;
  port: number;
  databaseUrl: string;
  heartbeatIntervalSeconds: number;
  /** Head reservation delay (see ClaimPolicy); default 10 s. */
  reserveAfterSeconds?: number;
  /** How often this replica reads the change log for changes made through other replicas; default 100 ms. */
  eventPollMs?: number;
  /** A worker silent this long is lost; default 5 heartbeat intervals. */
  workerTimeoutSeconds?: number;
  /** A job pushed to a worker and not started this long goes back to its queue; default 30 s. */
  assignTimeoutSeconds?: number;
  /** A job queued this long fails; 0 (the default): never. */
  queuedTimeoutSeconds?: number;
  /** First wait before retrying a failed job (doubling each attempt, at most 10 min); default 10 s. */
  retryBackoffSeconds?: number;
  /** How long finished jobs and their logs are kept; defaults 1 day (succeeded), 7 days (failed, canceled). */
  retainSucceededSeconds?: number;
  retainFailedSeconds?: number;
  /** Seconds between retention sweeps; default 60. */
  purgeEverySeconds?: number;
  log: (msg: string, err?: unknown) => void;
  /** Bootstrap credentials (EDGE_ADMIN_TOKEN, EDGE_REGISTRATION_SECRET) and where to make them when absent. */
  credentials?: BootstrapOptions;
  /** Serve TLS (HTTP/2 by ALPN, and HTTP/1.1) with this certificate and key (PEM). */
  tls?: { cert: Buffer; key: Buffer };
  /** Largest log of one attempt, bytes. */
  maxLogBytes?: number;
  /** Connection deadlines, HTTP/2 pings and the per-address connection limit (defaults in DEFAULT_CONNECTION_LIMITS). */
  connectionLimits?: Partial<ConnectionLimits>;
  /** Seconds between keepalive messages on quiet long streams (FetchJobs, WatchJobs, TailLogs); default 30. */
  streamKeepaliveSeconds?: number;
  /** The key of job secrets (EDGE_SECRET_KEY, EDGE_SECRET_KEY_PREVIOUS) or the data dir of its key file. */
  secretKeys?: SecretKeyOptions;
  /** Set by startServer from secretKeys; in-process tests may give a box directly. */
  secretBox?: SecretBox;
}

/** The one client-streaming RPC: its request body lasts as long as the job whose output it carries. */
const UPLOAD_LOGS_PATH = `/${LogService.typeName}/${LogService.method.uploadLogs.name}`;

export interface RunningServer {
  readonly url: string;
  readonly port: number;
  readonly store: Store;
  /** Credential files made at this start (paths only: the server never prints their values). */
  readonly credentialFiles: { adminToken?: string; registrationSecret?: string; secretKey?: string };
  /** Ends streams, stops listening, closes the database. */
  close(): Promise<void>;
}

/** Builds the service context and the request handler over a store. Exported for in-process tests. */
export async function buildApp(store: Store, config: Omit<ServerConfig, 'host' | 'port' | 'databaseUrl'>) {
  speedUpProtobuf();
  const shutdown = new AbortController();
  // Connect links every call's signal to this one while the call runs (see http/shutdown-signal.ts).
  const callsShutdown = new ShutdownSignal();
  const feed = new EventFeed({ store, pollMs: config.eventPollMs ?? 100, log: config.log });
  await feed.start();
  const policy = { reserveAfterMs: (config.reserveAfterSeconds ?? 10) * 1000 };
  const metrics = new ServerMetrics(store);
  const keepaliveMs = (config.streamKeepaliveSeconds ?? DEFAULT_STREAM_KEEPALIVE_MS / 1000) * 1000;
  const dispatcher = new Dispatcher({ store, log: config.log, policy, keepaliveMs });
  const jobEvents = new Notifier();
  const workerTimeoutMs = (config.workerTimeoutSeconds ?? 5 * config.heartbeatIntervalSeconds) * 1000;
  const heartbeats = new HeartbeatDesk({
    store,
    connected: (name) => dispatcher.connected(name),
    log: config.log,
    // Written many times within a worker timeout, so that a live worker never looks lost.
    flushMs: Math.min(DEFAULT_HEARTBEAT_FLUSH_MS, Math.max(50, workerTimeoutMs / 10)),
  });
  const ctx: ServiceContext = {
    store,
    feed,
    dispatcher,
    jobEvents,
    heartbeats,
    publisher: new Publisher({ store, dispatcher, feed, jobEvents, workerViews: heartbeats }),
    now: Date.now,
    heartbeatIntervalSeconds: config.heartbeatIntervalSeconds,
    workerTimeoutMs,
    maxLogBytes: config.maxLogBytes,
    streamKeepaliveMs: keepaliveMs,
    log: config.log,
    metrics,
    secretBox: config.secretBox,
  };
  const housekeeping = new Housekeeping({
    store,
    log: config.log,
    workerTimeoutMs,
    assignTimeoutMs: (config.assignTimeoutSeconds ?? 30) * 1000,
    queuedTimeoutMs: (config.queuedTimeoutSeconds ?? 0) * 1000,
    retention: {
      succeededMs: (config.retainSucceededSeconds ?? 86_400) * 1000,
      failedMs: (config.retainFailedSeconds ?? 7 * 86_400) * 1000,
    },
    purgeEveryMs: (config.purgeEverySeconds ?? 60) * 1000,
  });
  housekeeping.start();
  const services = edgeServices(ctx);
  // Authentication runs inside the error mapping: a database outage while checking a token is Unavailable.
  const interceptors = [metricsInterceptor(metrics), errorInterceptor(config.log), deadlineInterceptor(), authInterceptor(store)];
  const readMaxBytes = MAX_CHUNK_BYTES + 64 * 1024;
  const connectHandler = connectNodeAdapter({
    routes: routes(ctx, services),
    interceptors,
    // Plain HTTP on the same port: the web pages and /metrics for Prometheus.
    fallback: pagesHandler(
      metrics,
      config.log,
      webUi({ ctx, auth: pageAuth(store), log: config.log, shutdownSignal: shutdown.signal }),
      async (header) => {
        const token = bearerToken(header);
        return token ? authenticate(store, token) : undefined;
      },
    ),
    shutdownSignal: callsShutdown.asAbortSignal,
    readMaxBytes,
    // Strict JSON: a misspelt field or an unknown enum name is InvalidArgument, never silently dropped.
    jsonOptions: { ignoreUnknownFields: false },
  });
  // Bodies that are not protobuf are InvalidArgument, not Internal. gRPC calls with one request
  // message take the short way, on the HTTP/2 streams themselves (see http/grpc-calls.ts).
  const handler = malformedIsInvalid(connectHandler);
  const grpcStreams = grpcShortPath({ services, interceptors, readMaxBytes, shutdownSignal: callsShutdown.asAbortSignal, log: config.log });
  return {
    ctx,
    handler,
    grpcStreams,
    async shutdown() {
      shutdown.abort();
      callsShutdown.abort();
      await housekeeping.close();
      ctx.publisher.close();
      await ctx.dispatcher.close();
      await heartbeats.close();
      await feed.close();
    },
  };
}

export async function startServer(config: ServerConfig): Promise<RunningServer> {
  // Before the database is touched: a bad key stops the start with nothing changed.
  const keys = loadSecretBox(config.secretKeys ?? {});
  const store = openStore(config.databaseUrl, { retry: { baseMs: (config.retryBackoffSeconds ?? 10) * 1000, maxMs: 600_000 } });
  try {
    await store.migrate();
  } catch (err) {
    await store.close();
    throw err;
  }
  let written;
  try {
    ({ written } = await bootstrapCredentials(store, config.credentials ?? {}, Date.now()));
  } catch (err) {
    await store.close();
    throw err;
  }
  const app = await buildApp(store, { ...config, secretBox: config.secretBox ?? keys.box });
  const listener = await listenOnePort(app.handler, config.host, config.port, {
    tls: config.tls,
    limits: config.connectionLimits,
    longRequest: (path) => path.startsWith(UPLOAD_LOGS_PATH),
    grpcStreams: app.grpcStreams,
  });
  const shownHost = config.host.includes(':') ? `[${config.host}]` : config.host;
  return {
    url: `${config.tls ? 'https' : 'http'}://${shownHost}:${listener.port}`,
    port: listener.port,
    store,
    credentialFiles: { ...written, secretKey: keys.createdFile },
    async close() {
      await app.shutdown();
      await listener.close();
      await store.close();
    },
  };
}
