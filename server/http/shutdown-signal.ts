/**
 * The signal connect links every call to, so that a server shutdown aborts them all. Connect adds a
 * listener to it as each call starts and removes it as the call ends; Node's AbortSignal (an
 * EventTarget) walks its whole list of listeners on every add and remove, and each open stream holds
 * one: with 10,000 workers' FetchJobs streams, every heartbeat walked 20,000 entries. This one keeps
 * its listeners in a Set. Connect uses only `aborted`, `reason`, addEventListener and removeEventListener.
 */
export class ShutdownSignal {
  aborted = false;
  reason: unknown = undefined;
  private readonly listeners = new Set<(this: ShutdownSignal) => void>();

  addEventListener(_type: 'abort', listener: (this: ShutdownSignal) => void): void {
    this.listeners.add(listener);
  }

  removeEventListener(_type: 'abort', listener: (this: ShutdownSignal) => void): void {
    this.listeners.delete(listener);
  }

  abort(reason: unknown = new DOMException('This operation was aborted', 'AbortError')): void {
    if (this.aborted) return;
    this.aborted = true;
    this.reason = reason;
    for (const listener of [...this.listeners]) listener.call(this);
    this.listeners.clear();
  }

  /** As connect's options type it. */
  get asAbortSignal(): AbortSignal {
    return this as unknown as AbortSignal;
  }

  get listenerCount(): number {
    return this.listeners.size;
  }
}
