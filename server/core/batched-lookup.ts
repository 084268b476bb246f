/**
 * Reads by key that arrive together go to the store together: one batch at a time, each taking every
 * key asked for while the one before ran, so an idle server reads at once and a busy one reads in a
 * few statements for hundreds of callers. A fleet opening 10,000 streams at once read each worker in
 * statements of its own, and the connection pool's queue held every other caller (the fleet's first
 * heartbeats among them) behind them for seconds.
 */
export class BatchedLookup<K, V> {
  private waiting = new Map<K, Waiter<V>[]>();
  private running = false;

  constructor(
    private readonly read: (keys: K[]) => Promise<Map<K, V>>,
    private readonly maxBatch = 2000,
  ) {}

  /** The value as read after this call; undefined when there is none. */
  get(key: K): Promise<V | undefined> {
    return new Promise((resolve, reject) => {
      const waiters = this.waiting.get(key);
      if (waiters) waiters.push({ resolve, reject });
      else this.waiting.set(key, [{ resolve, reject }]);
      if (!this.running) void this.run();
    });
  }

  private async run(): Promise<void> {
    this.running = true;
    while (this.waiting.size) {
      const batch = new Map<K, Waiter<V>[]>();
      for (const [key, waiters] of this.waiting) {
        if (batch.size >= this.maxBatch) break;
        batch.set(key, waiters);
      }
      for (const key of batch.keys()) this.waiting.delete(key);
      try {
        const found = await this.read([...batch.keys()]);
        for (const [key, waiters] of batch) for (const w of waiters) w.resolve(found.get(key));
      } catch (err) {
        for (const waiters of batch.values()) for (const w of waiters) w.reject(err);
      }
    }
    this.running = false;
  }
}

interface Waiter<V> {
  resolve(value: V | undefined): void;
  reject(err: unknown): void;
}
