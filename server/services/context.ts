import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { EventFeed } from '../dispatch/event-feed.js';
import type { Notifier } from '../dispatch/notifier.js';
import type { Publisher } from '../core/publisher.js';
import type { HeartbeatDesk } from '../core/heartbeat-desk.js';
import type { Store } from '../store/store.js';
import type { ServerMetrics } from '../telemetry/server-metrics.js';
import type { SecretBox } from '../core/secret-box.js';

/** What the service handlers share. */
export interface ServiceContext {
  store: Store;
  dispatcher: Dispatcher;
  /** This replica's reader of the job change log; kick it after a change so watchers see it at once. */
  feed: EventFeed;
  /** Keyed by job id: wakes log tails. */
  jobEvents: Notifier;
  /** Turns what the store did into wake-ups and notifications; handlers never do that by hand. */
  publisher: Publisher;
  /** Answers heartbeats that change nothing from memory and writes them in batches. */
  heartbeats: HeartbeatDesk;
  now: () => number;
  heartbeatIntervalSeconds: number;
  /** A worker silent this long is lost; until then its name is held against a second registration. */
  workerTimeoutMs?: number;
  /** Largest log of one attempt (default DEFAULT_MAX_LOG_BYTES). */
  maxLogBytes?: number;
  log: (msg: string, err?: unknown) => void;
  /** Period of the keepalive messages on long streams (FetchJobs, WatchJobs, TailLogs). */
  streamKeepaliveMs?: number;
  /** Counters the handlers feed; absent in tests that do not look at them. */
  metrics?: ServerMetrics;
  /** Seals and opens job secrets; absent when the server has no key (jobs with secrets are refused). */
  secretBox?: SecretBox;
}

export { DEFAULT_STREAM_KEEPALIVE_MS } from '../core/stream-keepalive.js';
