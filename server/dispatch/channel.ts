/**
 * An unbounded async queue: producers push, one consumer iterates until close() or the abort signal.
 * Backs the server streams: the dispatcher pushes, the handler yields.
 */
export class Channel<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiter: (() => void) | undefined;
  private closed = false;
  private failure: Error | undefined;
  /** When an item was last pushed (ms since the epoch): lets the owner tell a quiet stream. */
  lastPushAt = Date.now();

  constructor(private readonly signal?: AbortSignal) {
    signal?.addEventListener('abort', () => this.close(), { once: true });
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Queues an item; false when the channel is closed and the item was not taken. */
  push(item: T): boolean {
    if (this.closed) return false;
    this.items.push(item);
    this.lastPushAt = Date.now();
    this.wake();
    return true;
  }

  close(): void {
    this.closed = true;
    this.wake();
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

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    for (;;) {
      if (this.items.length) {
        yield this.items.shift()!;
        continue;
      }
      if (this.closed) {
        if (this.failure) throw this.failure;
        return;
      }
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }
}
