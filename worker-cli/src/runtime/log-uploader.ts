import fs from 'node:fs';
import { promisify } from 'node:util';
import { ConnectError } from '@connectrpc/connect';
import type { ApiSource } from '../lib/api.js';
import { sleep } from './backoff.js';
import { isRefusal, retryBackoff } from './retry-policy.js';
import type { Logger } from './logger.js';

export interface LogUploaderOptions {
  /** Send when this many bytes wait… */
  flushBytes?: number;
  /** …or when the oldest waiting byte is this old. */
  flushMs?: number;
  /** Close a stream after this many bytes to learn what the server stored. */
  segmentBytes?: number;
  /** Called when the server refuses the attempt's log (the attempt was taken back). */
  onRefused?: (message: string) => void;
}

const MAX_MESSAGE_BYTES = 1024 * 1024;
const readAt = promisify(fs.read);
const POLL_MS = 100;

/**
 * Uploads one attempt's output from its spool file (which the job process writes directly, so the
 * worker holds at most one message of it in memory, and a slow or absent server never blocks the job)
 * through UploadLogs client streams while the job runs. Output is batched by size and by a short
 * delay; a stream opens only once a batch is ready, ends every few MiB to learn what the server
 * stored, and after a failure upload resumes at the server's offset: nothing lost, nothing doubled.
 * A job that ends before its first batch was due may hand the rest of its output over to its end
 * report instead (finish with `handOverUpTo`): most short jobs then open no stream at all.
 */
export class LogUploader {
  private readonly flushBytes: number;
  private readonly flushMs: number;
  private readonly segmentBytes: number;
  private confirmed = 0;
  private finishing = false;
  private looked = false;
  private handOverUpTo = 0;
  private handedOver: { offset: number; data: Buffer } | undefined;
  private abandoned = false;
  private kick: (() => void) | undefined;
  private readonly done: Promise<void>;
  private readonly abort = new AbortController();
  private fd: number | undefined;

  constructor(
    private readonly apis: ApiSource,
    /** The spool file, or a descriptor of it open for reading that the caller closes after finish(). */
    private readonly spool: string | number,
    private readonly jobId: string,
    private readonly attempt: number,
    private readonly log: Logger,
    private readonly opts: LogUploaderOptions = {},
  ) {
    this.flushBytes = opts.flushBytes ?? 64 * 1024;
    this.flushMs = opts.flushMs ?? 200;
    this.segmentBytes = opts.segmentBytes ?? 4 * 1024 * 1024;
    this.done = this.run();
  }

  /**
   * The job's process has ended: send the rest, resolve once the server has stored all of it. With
   * `handOverUpTo`, a rest of at most that many bytes that no stream has started on yet is not sent
   * but returned (with its offset), for the caller to send with the job's end.
   */
  async finish(opts: { handOverUpTo?: number } = {}): Promise<{ offset: number; data: Buffer } | undefined> {
    this.finishing = true;
    this.handOverUpTo = opts.handOverUpTo ?? 0;
    this.wake();
    await this.done;
    return this.handedOver;
  }

  /** Stops uploading at once; for attempts the server no longer accepts. */
  abandon(): void {
    this.abandoned = true;
    this.abort.abort();
    this.wake();
  }

  private wake(): void {
    const k = this.kick;
    this.kick = undefined;
    k?.();
  }

  /**
   * The spool's size. fstat of a local file answers at once, and the thread-pool round trip of the
   * asynchronous call cost more than the call itself, three times per short job.
   */
  private async size(): Promise<number> {
    return fs.fstatSync(this.fd!).size;
  }

  private async read(position: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    const { bytesRead } = await readAt(this.fd!, buf, 0, length, position);
    return buf.subarray(0, bytesRead);
  }

  private async run(): Promise<void> {
    this.fd = typeof this.spool === 'number' ? this.spool : fs.openSync(this.spool, 'r');
    const backoff = retryBackoff();
    try {
      while (!this.abandoned) {
        if (this.finishing && this.confirmed >= (await this.size())) return;
        try {
          if (await this.segment()) return;
          backoff.reset();
        } catch (err) {
          if (this.abandoned) return;
          const e = ConnectError.from(err);
          if (isRefusal(e)) {
            this.abandon();
            this.opts.onRefused?.(e.rawMessage);
            return;
          }
          this.log.warn(`log upload for job ${this.jobId} interrupted (${e.rawMessage}); resuming`);
          await sleep(backoff.next(), this.abort.signal);
          await this.resync().catch(() => undefined);
        }
      }
    } finally {
      if (typeof this.spool !== 'number') fs.closeSync(this.fd);
    }
  }

  /** After a failure: learn what the server holds and continue from there. */
  private async resync(): Promise<void> {
    const r = await this.apis.api.logs.readLogs(
      { jobId: this.jobId, attempt: this.attempt, offset: BigInt(this.confirmed), maxBytes: 1 },
      { signal: this.abort.signal, timeoutMs: 10_000 },
    );
    this.confirmed = Number(r.size);
  }

  /**
   * One UploadLogs stream, opened once a first batch is ready: sends batches until segmentBytes or
   * the end, then takes the server's size. True when the rest was handed over instead.
   */
  private async segment(): Promise<boolean> {
    const base = this.confirmed;
    const first = await this.nextBatch(base);
    if (!first) return false;
    if (this.finishing && first <= this.handOverUpTo) {
      this.handedOver = { offset: base, data: await this.read(base, first) };
      return true;
    }
    let sent = 0;
    let ready = first;
    const self = this;
    async function* messages() {
      for (;;) {
        if (sent) ready = await self.nextBatch(base + sent);
        if (!ready) return;
        const data = await self.read(base + sent, Math.min(ready, MAX_MESSAGE_BYTES));
        if (!data.length) return;
        yield { jobId: self.jobId, attempt: self.attempt, offset: BigInt(base + sent), data };
        sent += data.length;
        if (sent >= self.segmentBytes) return;
      }
    }
    const res = await this.apis.api.logs.uploadLogs(messages(), { signal: this.abort.signal });
    const stored = res.sizes.find((s) => s.jobId === this.jobId && s.attempt === this.attempt);
    if (stored) this.confirmed = Number(stored.size);
    return false;
  }

  /** Waits until a batch from `from` is worth sending; returns its size, or 0 when the stream should end. */
  private async nextBatch(from: number): Promise<number> {
    let deadline: number | undefined;
    // A job just started has written nothing worth a look yet: most short jobs end before the first one.
    if (!this.looked && !this.finishing) await this.pause(POLL_MS);
    this.looked = true;
    for (;;) {
      if (this.abandoned) return 0;
      const avail = (await this.size()) - from;
      if (avail >= this.flushBytes || (this.finishing && avail > 0)) return avail;
      if (this.finishing) return 0;
      if (avail > 0) {
        deadline ??= Date.now() + this.flushMs;
        if (Date.now() >= deadline) return avail;
      }
      await this.pause(deadline === undefined ? POLL_MS : Math.min(POLL_MS, Math.max(0, deadline - Date.now())));
    }
  }

  /** Waits, or until finish() or abandon() wakes us. */
  private pause(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      this.kick = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
}
