/** What an interceptor does when a response stream ends: after its last message, or with an error. */
export interface StreamHooks<C> {
  /** The stream ended after its last message (called once). */
  done?(call: C): void;
  /** The stream failed: returns the error to pass on (the same or another). */
  error(err: unknown, call: C): unknown;
}

/**
 * A response stream seen by an interceptor, as `yield*` in an async generator would see it (errors
 * of next, return and throw go through `hooks.error`; `hooks.done` runs when the stream ends by
 * itself, not when the reader stops early), without an async generator, a closure or a context per
 * call: a server holds one per open stream and interceptor, for as long as a worker stays connected.
 */
export class ObservedStream<T, C> implements AsyncIterable<T>, AsyncIterator<T> {
  private it: AsyncIterator<T> | undefined;
  private ended = false;

  constructor(
    private readonly messages: AsyncIterable<T>,
    private readonly hooks: StreamHooks<C>,
    private readonly call: C,
  ) {}

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return this;
  }

  next(): Promise<IteratorResult<T>> {
    return this.iterator()
      .next()
      .then(
        (r) => this.result(r),
        (err) => this.fail(err),
      );
  }

  return(value?: unknown): Promise<IteratorResult<T>> {
    const it = this.iterator();
    this.ended = true;
    if (!it.return) return Promise.resolve({ value: value as T, done: true });
    return it.return(value).then(
      (r) => r,
      (err) => this.fail(err),
    );
  }

  throw(e?: unknown): Promise<IteratorResult<T>> {
    const it = this.iterator();
    if (!it.throw) {
      this.ended = true;
      void it.return?.();
      return this.fail(e);
    }
    return it.throw(e).then(
      (r) => this.result(r),
      (err) => this.fail(err),
    );
  }

  private iterator(): AsyncIterator<T> {
    return (this.it ??= this.messages[Symbol.asyncIterator]());
  }

  private result(r: IteratorResult<T>): IteratorResult<T> {
    if (r.done && !this.ended) {
      this.ended = true;
      this.hooks.done?.(this.call);
    }
    return r;
  }

  private fail(err: unknown): never {
    this.ended = true;
    throw this.hooks.error(err, this.call);
  }
}
