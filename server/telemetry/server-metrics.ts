import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Store } from '../store/store.js';

/**
 * The server's Prometheus metrics. Job, queue and worker counts are read from the store at scrape
 * time (the database is the truth, shared by every replica); heartbeats, RPCs and the
 * submit-to-start latency are counted by this replica as they happen.
 */
export class ServerMetrics {
  readonly registry = new Registry();
  private readonly heartbeats: Counter;
  private readonly rpcs: Counter<'service' | 'method' | 'code'>;
  private readonly startLatency: Histogram<'queue'>;
  private readonly rpcSeconds: Histogram<'service' | 'method'>;

  constructor(store: Store, now: () => number = Date.now) {
    const registers = [this.registry];
    this.heartbeats = new Counter({
      name: 'edge_worker_heartbeats_total',
      help: 'Worker heartbeats received by this server, by what answered them: memory (written in the next batch) or the store (written at once).',
      labelNames: ['answered'],
      registers,
    });
    this.rpcs = new Counter({
      name: 'edge_rpc_requests_total',
      help: 'RPCs handled by this server, by service, method and outcome (gRPC code name; OK for success).',
      labelNames: ['service', 'method', 'code'],
      registers,
    });
    this.rpcSeconds = new Histogram({
      name: 'edge_rpc_duration_seconds',
      help: 'Time this server took to answer a unary RPC (its token checked, the method run), by service and method.',
      labelNames: ['service', 'method'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.startLatency = new Histogram({
      name: 'edge_job_submit_to_start_seconds',
      help: 'Time from a job being submitted to its process starting on a worker.',
      labelNames: ['queue'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    });

    // One store read per scrape feeds all four gauges; the first gauge's collect starts it.
    let snapshot: ReturnType<Store['metricsSnapshot']> | undefined;
    const read = () => (snapshot ??= store.metricsSnapshot().finally(() => setImmediate(() => (snapshot = undefined))));
    new Gauge({
      name: 'edge_jobs',
      help: 'Jobs in the store, by state and queue.',
      labelNames: ['state', 'queue'],
      registers,
      async collect() {
        this.reset();
        for (const j of (await read()).jobs) this.set({ state: j.state, queue: j.queue }, j.count);
      },
    });
    new Gauge({
      name: 'edge_queue_depth',
      help: 'QUEUED jobs per queue.',
      labelNames: ['queue'],
      registers,
      async collect() {
        this.reset();
        for (const q of (await read()).queues) this.set({ queue: q.queue }, q.depth);
      },
    });
    new Gauge({
      name: 'edge_queue_oldest_age_seconds',
      help: 'Age of the oldest QUEUED job per queue.',
      labelNames: ['queue'],
      registers,
      async collect() {
        this.reset();
        for (const q of (await read()).queues) this.set({ queue: q.queue }, Math.max(0, (now() - q.oldestCreatedAt) / 1000));
      },
    });
    new Gauge({
      name: 'edge_workers',
      help: 'Workers known to the store, by state.',
      labelNames: ['state'],
      registers,
      async collect() {
        this.reset();
        for (const w of (await read()).workers) this.set({ state: w.state }, w.count);
      },
    });
  }

  heartbeat(answered: 'memory' | 'store'): void {
    this.heartbeats.inc({ answered });
  }

  rpc(service: string, method: string, code: string): void {
    this.rpcs.inc({ service, method, code });
  }

  unaryAnswered(service: string, method: string, ms: number): void {
    this.rpcSeconds.observe({ service, method }, ms / 1000);
  }

  jobStarted(queue: string, latencyMs: number): void {
    this.startLatency.observe({ queue }, Math.max(0, latencyMs) / 1000);
  }

  /** The text exposition format, for GET /metrics. */
  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
