import assert from 'node:assert/strict';
import { createLinkedAbortController } from '@connectrpc/connect/protocol';
import { ShutdownSignal } from '../../../../server/http/shutdown-signal.js';

describe('ShutdownSignal: what connect links every call to, with listeners in a Set', () => {
  it('aborts the calls linked to it, as connect links them, and forgets the calls that ended', () => {
    const shutdown = new ShutdownSignal();
    const calls = Array.from({ length: 10_000 }, () => createLinkedAbortController(new AbortController().signal, shutdown.asAbortSignal));
    assert.equal(shutdown.listenerCount, 10_000);
    // A call that ends aborts its own controller: connect then removes its listener.
    calls[0]!.abort();
    assert.equal(shutdown.listenerCount, 9_999);
    shutdown.abort(new Error('server shutting down'));
    assert.ok(calls.every((c) => c.signal.aborted));
    assert.equal((calls[1]!.signal.reason as Error).message, 'server shutting down');
    assert.equal(shutdown.listenerCount, 0);
  });
});
