/**
 * An unbounded async queue: producers push, one consumer iterates until close() or the abort signal.
 * Backs the server streams: the dispatcher pushes, the handler reads.
 *
 * A server holds one per connected worker for as long as its stream lives (10,000 on a large
 * fleet), so the channel is its own iterator: no async generator, no closure per read, at most one
 * pending read.
 */
export class Channel<T> implements AsyncIterable<T>, AsyncIterator<T> {
  private items: T[] = [];
  /** The consumer's pending read, settled by the next push or close. */
  private waiting: { resolve(r: IteratorResult<T>): void; reject(err: Error): void } | undefined;
  private closed = false;
  private failure: Error | undefined;
  /** When an item was last pushed (ms since the epoch): lets the owner tell a quiet stream. */
  lastPushAt = Date.now();

  constructor(signal?: AbortSignal) {
    signal?.addEventListener('abort', () => this.close(), { once: true });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Queues an item; false when the channel is closed and the item was not taken. */
  push(item: T): boolean {
    if (this.closed) return false;
    this.lastPushAt = Date.now();
    const w = this.waiting;
    if (w) {
      this.waiting = undefined;
      w.resolve({ value: item, done: false });
    } else this.items.push(item);
    return true;
  }

  close(): void {
    this.closed = true;
    const w = this.waiting;
    this.waiting = undefined;
    if (!w) return;
    if (this.failure) w.reject(this.failure);
    else w.resolve({ value: undefined, done: true });
  }

  /** Closes the channel so that its consumer ends with this error (once it has read what was queued). */
  fail(err: Error): void {
    if (this.closed) return;
    this.failure = err;
    this.close();
  }

  /** Items pushed but never read, handed back once the channel has closed. */
  drainUnread(): T[] {
    const left = this.items;
    this.items = [];
    return left;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length) return Promise.resolve({ value: this.items.shift()!, done: false });
    if (this.closed) return this.failure ? Promise.reject(this.failure) : Promise.resolve({ value: undefined, done: true });
    if (this.waiting) return Promise.reject(new Error('Channel: one reader at a time'));
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }

  /** The consumer stopped reading (it broke out of its loop): what is queued stays for drainUnread. */
  return(): Promise<IteratorResult<T>> {
    const w = this.waiting;
    this.waiting = undefined;
    w?.resolve({ value: undefined, done: true });
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this;
  }
}
