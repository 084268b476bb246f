import { Code, ConnectError } from '@connectrpc/connect';
import type { Api } from '../lib/api.js';
import { Backoff, sleep } from './backoff.js';
import type { Logger } from './logger.js';

export interface LogUploaderOptions {
  /** Send when this many bytes wait… */
  flushBytes?: number;
  /** …or when the oldest waiting byte is this old. */
  flushMs?: number;
  /** Close a stream after this many bytes to learn what the server stored and free them here. */
  segmentBytes?: number;
  /** Above this many unconfirmed bytes, write() asks the producer to pause. */
  maxBufferedBytes?: number;
}

const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * Streams one attempt's output to the server through UploadLogs while the job runs: output is batched
 * (by size and by a short delay), sent on a client stream, and kept here until the server confirms it,
 * so a broken connection resumes at the server's offset with nothing lost or doubled.
 */
export class LogUploader {
  private readonly flushBytes: number;
  private readonly flushMs: number;
  private readonly segmentBytes: number;
  private readonly maxBuffered: number;
  /** Bytes from `confirmed` on: sent but unconfirmed, then not yet sent. */
  private chunks: Buffer[] = [];
  private buffered = 0;
  private confirmed = 0;
  private finishing = false;
  private abandoned = false;
  private kick: (() => void) | undefined;
  private drainWaiters: (() => void)[] = [];
  private readonly done: Promise<void>;
  private readonly abort = new AbortController();

  constructor(
    private readonly api: Api,
    private readonly jobId: string,
    private readonly attempt: number,
    private readonly log: Logger,
    opts: LogUploaderOptions = {},
  ) {
    this.flushBytes = opts.flushBytes ?? 64 * 1024;
    this.flushMs = opts.flushMs ?? 200;
    this.segmentBytes = opts.segmentBytes ?? 2 * 1024 * 1024;
    this.maxBuffered = Math.max(opts.maxBufferedBytes ?? 8 * 1024 * 1024, this.segmentBytes * 2);
    this.done = this.run();
  }

  /** Bytes the server has confirmed. */
  get storedBytes(): number {
    return this.confirmed;
  }

  /** Queues output; false means "pause the producer until whenDrained()". */
  write(data: Buffer): boolean {
    if (this.finishing || this.abandoned || data.length === 0) return true;
    this.chunks.push(data);
    this.buffered += data.length;
    this.wake();
    return this.buffered < this.maxBuffered;
  }

  whenDrained(): Promise<void> {
    if (this.buffered < this.maxBuffered / 2 || this.abandoned) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Sends what is left and resolves once the server has stored all of it (retrying as needed). */
  finish(): Promise<void> {
    this.finishing = true;
    this.wake();
    return this.done;
  }

  /** Stops uploading at once; what is unsent is dropped. For attempts the server no longer accepts. */
  abandon(): void {
    this.abandoned = true;
    this.abort.abort();
    this.wake();
    this.releaseDrainWaiters();
  }

  private wake(): void {
    const k = this.kick;
    this.kick = undefined;
    k?.();
  }

  private releaseDrainWaiters(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const r of w) r();
  }

  /** Drops bytes the server confirmed it holds. */
  private confirm(size: number): void {
    let drop = size - this.confirmed;
    if (drop <= 0) return;
    this.confirmed = size;
    this.buffered -= drop;
    while (drop > 0 && this.chunks.length) {
      const head = this.chunks[0]!;
      if (head.length <= drop) {
        drop -= head.length;
        this.chunks.shift();
      } else {
        this.chunks[0] = head.subarray(drop);
        drop = 0;
      }
    }
    if (this.buffered < this.maxBuffered / 2) this.releaseDrainWaiters();
  }

  /** Up to `max` bytes starting `from` bytes past the confirmed offset. */
  private peek(from: number, max: number): Buffer {
    const parts: Buffer[] = [];
    let skip = from;
    let want = max;
    for (const c of this.chunks) {
      if (want <= 0) break;
      if (skip >= c.length) {
        skip -= c.length;
        continue;
      }
      const piece = c.subarray(skip, skip + want);
      parts.push(piece);
      want -= piece.length;
      skip = 0;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  }

  private async run(): Promise<void> {
    const backoff = new Backoff(200, 5_000);
    while (!this.abandoned && !(this.finishing && this.buffered === 0)) {
      try {
        await this.segment();
        backoff.reset();
      } catch (err) {
        if (this.abandoned) return;
        const e = ConnectError.from(err);
        if (e.code === Code.FailedPrecondition || e.code === Code.NotFound || e.code === Code.PermissionDenied) {
          this.log.warn(`log upload for job ${this.jobId} attempt ${this.attempt} refused: ${e.rawMessage}`);
          this.abandon();
          return;
        }
        this.log.warn(`log upload for job ${this.jobId} interrupted (${e.rawMessage}); resuming`);
        await sleep(backoff.next(), this.abort.signal);
        await this.resync().catch(() => undefined);
      }
    }
  }

  /** After a failure: learn what the server holds and continue from there. */
  private async resync(): Promise<void> {
    const r = await this.api.logs.readLogs(
      { jobId: this.jobId, attempt: this.attempt, offset: BigInt(this.confirmed), maxBytes: 1 },
      { signal: this.abort.signal, timeoutMs: 10_000 },
    );
    this.confirm(Number(r.size));
  }

  /** One UploadLogs stream: sends batches until segmentBytes or the end, then takes the server's size. */
  private async segment(): Promise<void> {
    const base = this.confirmed;
    let sent = 0;
    const self = this;
    async function* messages() {
      for (;;) {
        const ready = await self.nextBatchReady(sent);
        if (!ready) return;
        const data = self.peek(sent, Math.min(ready, MAX_MESSAGE_BYTES));
        yield { jobId: self.jobId, attempt: self.attempt, offset: BigInt(base + sent), data };
        sent += data.length;
        if (sent >= self.segmentBytes) return;
      }
    }
    const res = await this.api.logs.uploadLogs(messages(), { signal: this.abort.signal });
    const stored = res.sizes.find((s) => s.jobId === this.jobId && s.attempt === this.attempt);
    if (stored) this.confirm(Number(stored.size));
  }

  /** Waits until a batch is worth sending; returns its size, or 0 when the stream should end. */
  private async nextBatchReady(sent: number): Promise<number> {
    let deadline: number | undefined;
    for (;;) {
      if (this.abandoned) return 0;
      const avail = this.buffered - sent;
      if (avail >= this.flushBytes || (this.finishing && avail > 0)) return avail;
      if (this.finishing) return 0;
      if (avail > 0) {
        deadline ??= Date.now() + this.flushMs;
        if (Date.now() >= deadline) return avail;
      }
      await new Promise<void>((resolve) => {
        const timer = deadline === undefined ? undefined : setTimeout(resolve, Math.max(0, deadline - Date.now()));
        this.kick = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }
}
