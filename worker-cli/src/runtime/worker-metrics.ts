import http from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { SystemInfo } from '../../../gen/edge/v1/worker_pb.js';

export interface WorkerGauges {
  state: string;
  runningJobs: number;
  usedSlots: number;
  concurrency: number;
  system: SystemInfo | undefined;
}

/** The worker's Prometheus metrics, served on an optional --metrics-port. */
export class WorkerMetrics {
  readonly registry = new Registry();
  readonly jobsFinished: Counter<'state'>;
  readonly heartbeats: Counter<'outcome'>;

  constructor(read: () => WorkerGauges) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'edge_worker_process_' });
    this.jobsFinished = new Counter({ name: 'edge_worker_jobs_finished_total', help: 'Job attempts this worker finished, by final state.', labelNames: ['state'], registers });
    this.heartbeats = new Counter({ name: 'edge_worker_heartbeats_total', help: 'Heartbeats sent, by outcome (ok, failed).', labelNames: ['outcome'], registers });
    const gauge = (name: string, help: string, value: (g: WorkerGauges) => number) =>
      new Gauge({
        name,
        help,
        registers,
        collect() {
          this.set(value(read()));
        },
      });
    gauge('edge_worker_jobs_running', 'Job attempts this worker holds.', (g) => g.runningJobs);
    gauge('edge_worker_slots_used', 'Slots taken by the jobs this worker holds.', (g) => g.usedSlots);
    gauge('edge_worker_slots_free', 'Slots this worker has free.', (g) => Math.max(0, g.concurrency - g.usedSlots));
    gauge('edge_worker_concurrency', 'Slots this worker offers.', (g) => g.concurrency);
    gauge('edge_worker_cpu_percent', 'Machine CPU use at the last heartbeat.', (g) => g.system?.cpuPercent ?? 0);
    gauge('edge_worker_memory_available_mib', 'Available memory at the last heartbeat, MiB.', (g) => g.system?.memoryAvailableMib ?? 0);
    gauge('edge_worker_disk_free_mib', 'Free space of the work dir at the last heartbeat, MiB.', (g) => g.system?.diskFreeMib ?? 0);
    new Gauge({
      name: 'edge_worker_state',
      help: 'The worker state: 1 for the current one.',
      labelNames: ['state'],
      registers,
      collect() {
        this.reset();
        this.set({ state: read().state }, 1);
      },
    });
  }

  /** Serves GET /metrics; resolves with the bound port once listening. */
  async serve(host: string, port: number): Promise<{ port: number; close(): Promise<void> }> {
    const server = http.createServer((req, res) => {
      if ((req.url ?? '').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('only GET /metrics here\n');
        return;
      }
      this.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => resolve());
    });
    const bound = (server.address() as { port: number }).port;
    return {
      port: bound,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }
}
