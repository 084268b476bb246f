/**
 * Simulated edge workers for the benchmarks: one process holds many workers, each speaking the real
 * WorkerService protocol over gRPC (RegisterWorker, a FetchJobs stream, Heartbeat, ReportJobStates),
 * several workers per HTTP/2 connection, through a lean client (./lean-grpc.ts). A job pushed to a
 * simulated worker is never run: the worker reports it SUCCEEDED at once. This is how the bench
 * measures the control plane alone without any "no-op job" switch in the real worker: nothing in the
 * production code changes.
 */
import { setMaxListeners } from 'node:events';
import { Code } from '@connectrpc/connect';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { WorkerState } from '../../gen/edge/v1/worker_pb.js';
import { WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import { VERSION } from '../../shared/version.js';
import { childConfig, ready, serveParent } from '../lib/children.js';
import { mono, sleep, summarize } from '../lib/stats.js';
import { GrpcError, LeanChannel } from './lean-grpc.js';

interface Config {
  /** Workers are spread round-robin over these servers (replicas). */
  apiUrls: string[];
  count: number;
  namePrefix: string;
  queues: string[];
  concurrency: number;
  /** Workers sharing one HTTP/2 connection. */
  perConnection: number;
  /** Send heartbeats at the interval the server asks for. */
  heartbeats: boolean;
}

interface Receipt {
  id: string;
  recv: number;
  done?: number;
  failed?: boolean;
}

const cfg = childConfig<Config>();
/**
 * Ends the process's work; its calls are cut by aborting each worker's own signal and the sessions.
 * Calls do not listen to it: node's EventTarget checks every listener on each add, and 10,000
 * streams plus the heartbeats in flight on one signal cost this process a tenth of its time.
 */
const stop = new AbortController();
const channels: LeanChannel[] = [];
const M = WorkerService.method;
let receipts: Receipt[] = [];
let completed = 0;
let failures = 0;
let heartbeatRtts: number[] = [];
let heartbeatErrors = 0;
/** Workers whose first heartbeat was answered. */
let heartbeatedOnce = 0;
let streamsOpen = 0;
/** Streams whose first message (a keepalive) arrived: the worker is connected and can be served. */
let streamsLive = 0;
let registerRetries = 0;
/** Failed FetchJobs calls, by code name (Unavailable is the server shedding load). */
const streamErrors = new Map<string, number>();
/** Per worker: stops its stream and heartbeats (a worker that dies without a word), and when it last heartbeat. */
const silencers: AbortController[] = [];
const lastHeartbeatAt: number[] = [];
/** Per worker: the heartbeat on the wire, if any (silencing lets it land: the server may count it). */
const heartbeatInFlight: (Promise<unknown> | undefined)[] = [];

function channelFor(i: number): LeanChannel {
  const c = Math.floor(i / cfg.perConnection);
  channels[c] ??= new LeanChannel(cfg.apiUrls[c % cfg.apiUrls.length]!);
  return channels[c]!;
}

/** Each simulated worker's own token, obtained at registration with the registration secret. */
const tokens: string[] = [];
const as = (i: number) => ({ authorization: `Bearer ${tokens[i]}` });
const workerIndex = (name: string) => Number(name.slice(name.lastIndexOf('-') + 1));

async function register(i: number): Promise<number> {
  const channel = channelFor(i);
  const name = `${cfg.namePrefix}-${i}`;
  // Like the real worker: retry with jittered backoff while the server is swamped (10,000 at once).
  for (let delay = 200; ; delay = Math.min(5000, delay * 2)) {
    try {
      // Like a real worker: the registration secret once, then the worker's own token.
      const res = await channel.unary(
        M.registerWorker,
        { name, queues: cfg.queues, concurrency: cfg.concurrency, version: VERSION },
        { authorization: `Bearer ${process.env.EDGE_REGISTRATION_SECRET ?? ''}` },
        60_000,
      );
      tokens[i] = res.workerToken;
      return res.heartbeatIntervalSeconds;
    } catch (err) {
      registerRetries++;
      if (stop.signal.aborted) throw err;
      await sleep(delay / 2 + Math.random() * delay);
    }
  }
}

async function runWorker(i: number, heartbeatSeconds: number, opened: () => void): Promise<void> {
  const channel = channelFor(i);
  const workerName = `${cfg.namePrefix}-${i}`;
  const held = new Map<string, number>();
  const silenced = (silencers[i] = new AbortController());
  const signal = silenced.signal;
  setMaxListeners(0, signal); // each reconnect's call listens to it
  if (cfg.heartbeats) void heartbeatLoop(channel, i, heartbeatSeconds, held, signal);
  let first = true;
  // Like the real worker: reconnect after a jittered, growing delay, so a restarted server is not hit by all at once.
  let delay = 200;
  while (!signal.aborted) {
    let live = false;
    try {
      const ended = channel.serverStream(M.fetchJobs, { workerName }, as(i), signal, (ev) => {
        if (!live) (live = true), streamsLive++, (delay = 200);
        if (ev.event.case !== 'assignment') return;
        const receipt: Receipt = { id: ev.event.value.job!.id, recv: mono() };
        receipts.push(receipt);
        complete(channel, workerName, ev.event.value.job!.id, ev.event.value.attempt, receipt, held);
      });
      // Count the stream open once the call is made (its first message, a keepalive, says it is live).
      if (first) (first = false), opened();
      streamsOpen++;
      await ended;
      streamsOpen--;
    } catch (err) {
      streamsOpen = Math.max(0, streamsOpen - 1);
      if (first) (first = false), opened();
      if (!signal.aborted) {
        const code = err instanceof GrpcError ? (Code[err.code] ?? 'unknown') : 'unknown';
        streamErrors.set(code, (streamErrors.get(code) ?? 0) + 1);
      }
    }
    if (live) streamsLive--;
    await sleep(delay / 2 + Math.random() * delay);
    delay = Math.min(5000, delay * 2);
  }
}

interface PendingEnd {
  jobId: string;
  attempt: number;
  receipt: Receipt;
}

/** Per worker: the ends waiting while a ReportJobStates call is in flight (they go together next). */
const waiting = new Map<string, PendingEnd[]>();
const reporting = new Set<string>();

/**
 * Completes a job as the real worker does with a job that ends at once: no RUNNING report, the end
 * carries its run time (0), and ends coalesce into ReportJobStates calls, one in flight per worker.
 */
function complete(channel: LeanChannel, workerName: string, jobId: string, attempt: number, receipt: Receipt, held: Map<string, number>) {
  held.set(jobId, attempt);
  const queue = waiting.get(workerName) ?? [];
  waiting.set(workerName, queue);
  queue.push({ jobId, attempt, receipt });
  if (!reporting.has(workerName)) void report(channel, workerName, held);
}

async function report(channel: LeanChannel, workerName: string, held: Map<string, number>) {
  reporting.add(workerName);
  const headers = as(workerIndex(workerName));
  try {
    for (let batch = waiting.get(workerName)!.splice(0); batch.length; batch = waiting.get(workerName)!.splice(0)) {
      const reports = batch.map((e) => ({ jobId: e.jobId, attempt: e.attempt, workerName, state: JobState.SUCCEEDED, exitCode: 0, ranForMs: 0 }));
      let results: { result: { case: string | undefined; value?: unknown } }[] = [];
      try {
        results = (await channel.unary(M.reportJobStates, { reports }, headers, 60_000)).results;
      } catch (err) {
        if (failures < 5) console.error(`sim: reports of ${batch.length} jobs failed: ${(err as Error).message}`);
      }
      batch.forEach((e, i) => {
        held.delete(e.jobId);
        const r = results[i];
        if (r?.result.case === 'job') {
          e.receipt.done = mono();
          completed++;
        } else {
          failures++;
          e.receipt.failed = true;
          if (r && failures < 5) console.error(`sim: report of job ${e.jobId} refused: ${(r.result.value as { message?: string }).message}`);
        }
      });
    }
  } finally {
    reporting.delete(workerName);
  }
}

/** `signal` ends the loop (the worker stopped or was silenced); a heartbeat on the wire is cut only by the process's stop (its session ends). */
async function heartbeatLoop(channel: LeanChannel, i: number, seconds: number, held: Map<string, number>, signal: AbortSignal) {
  const workerName = `${cfg.namePrefix}-${i}`;
  const every = seconds * 1000;
  await sleep(Math.random() * every);
  while (!signal.aborted) {
    const t0 = mono();
    try {
      // The answer is recorded in the promise a silencing waits for: it must see this heartbeat's time.
      const answered = channel
        .unary(M.heartbeat, { workerName, state: held.size ? WorkerState.RUNNING : WorkerState.IDLE, jobs: [...held].map(([jobId, attempt]) => ({ jobId, attempt })) }, as(i), 30_000)
        .then(() => {
          heartbeatRtts.push(mono() - t0);
          if (!lastHeartbeatAt[i]) heartbeatedOnce++;
          lastHeartbeatAt[i] = Date.now();
        });
      heartbeatInFlight[i] = answered;
      await answered.finally(() => (heartbeatInFlight[i] = undefined));
    } catch {
      if (!signal.aborted && !paused) heartbeatErrors++;
    }
    await sleep(Math.max(0, every - (mono() - t0)));
  }
}

/** While a server restarts on purpose, failed heartbeats are expected, not errors. */
let paused = false;

async function start(): Promise<void> {
  // Register with bounded parallelism, then open every stream.
  const intervals: number[] = new Array(cfg.count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(16, cfg.count) }, async () => {
      while (next < cfg.count) {
        const i = next++;
        intervals[i] = await register(i);
      }
    }),
  );
  let opened = 0;
  await new Promise<void>((resolve) => {
    for (let i = 0; i < cfg.count; i++) void runWorker(i, intervals[i] ?? 10, () => ++opened === cfg.count && resolve());
  });
}

serveParent(
  async (m) => {
    switch (m.type) {
      case 'take': {
        // Only finished receipts leave: a copy sent now would never see its later stamps.
        const out = receipts.filter((r) => r.done !== undefined || r.failed);
        receipts = receipts.filter((r) => r.done === undefined && !r.failed);
        return out;
      }
      case 'count':
        return { completed, failures, received: receipts.length, streamsOpen, streamsLive, heartbeatedOnce, registerRetries, streamErrors: Object.fromEntries(streamErrors) };
      case 'silence': {
        // The last `count` workers die without a word: no goodbye, no more heartbeats, streams cut.
        // A heartbeat already sent may still land on the server: its loss counts from that one, so it is awaited.
        const chosen: number[] = [];
        for (let i = cfg.count - 1; i >= 0 && chosen.length < (m.count as number); i--) silencers[i]!.abort(), chosen.push(i);
        await Promise.allSettled(chosen.map((i) => heartbeatInFlight[i]));
        return chosen.map((i) => ({ name: `${cfg.namePrefix}-${i}`, lastHeartbeatAt: lastHeartbeatAt[i] ?? 0 }));
      }
      case 'pause':
        paused = Boolean(m.on);
        return {};
      case 'heartbeats': {
        const s = { ...summarize(heartbeatRtts), errors: heartbeatErrors };
        if (m.reset) (heartbeatRtts = []), (heartbeatErrors = 0);
        return s;
      }
      default:
        throw new Error(`unknown request ${m.type}`);
    }
  },
  async () => {
    stop.abort();
    for (const s of silencers) s?.abort();
    for (const c of channels) c.close();
  },
);

start().then(ready, (err) => {
  console.error(`sim: could not start: ${(err as Error).stack}`);
  process.exit(1);
});
