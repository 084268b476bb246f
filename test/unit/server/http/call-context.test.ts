import assert from 'node:assert/strict';
import { Code, ConnectError } from '@connectrpc/connect';
import { WorkerService } from '../../../../gen/edge/v1/worker_service_pb.js';
import { CallContext } from '../../../../server/http/call-context.js';
import { ShutdownSignal } from '../../../../server/http/shutdown-signal.js';

const method = WorkerService.method.getWorker;
const call = (timeoutMs: number | undefined, shutdown = new ShutdownSignal()) =>
  new CallContext(method, 'http://x/edge.v1.WorkerService/GetWorker', new Headers({ authorization: 'Bearer t' }), new Headers(), timeoutMs, shutdown.asAbortSignal);
const codeOf = (reason: unknown) => (reason instanceof ConnectError ? reason.code : undefined);

describe('a call context whose signal is made when read (server/http/call-context.ts)', () => {
  it('makes no signal and listens to nothing for a call that never reads it', () => {
    const shutdown = new ShutdownSignal();
    const c = call(1000, shutdown);
    assert.equal(c.timeoutMs()! > 900, true);
    c.abort(new Error('ended'));
    assert.equal(shutdown.listenerCount, 0);
  });

  it('aborts a signal read before the deadline when the deadline passes, with DeadlineExceeded', async () => {
    const c = call(30);
    const reason = await new Promise((resolve) => c.signal.addEventListener('abort', () => resolve(c.signal.reason)));
    assert.equal(codeOf(reason), Code.DeadlineExceeded);
  });

  it('gives a signal read after the deadline already aborted', async () => {
    const c = call(5);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(c.signal.aborted, true);
    assert.equal(codeOf(c.signal.reason), Code.DeadlineExceeded);
  });

  it('aborts with the shutdown, and stops listening to it once the call ended', () => {
    const shutdown = new ShutdownSignal();
    const a = call(undefined, shutdown);
    const b = call(undefined, shutdown);
    assert.equal(a.signal.aborted, false);
    assert.equal(b.signal.aborted, false);
    assert.equal(shutdown.listenerCount, 2);
    b.abort(new Error('ended'));
    assert.equal(shutdown.listenerCount, 1);
    const why = new ConnectError('server stopping', Code.Unavailable);
    shutdown.abort(why);
    assert.equal(a.signal.reason, why);
    assert.equal(call(undefined, shutdown).signal.reason, why);
  });

  it('keeps the reason of an abort that came before anyone read the signal', () => {
    const c = call(1000);
    const gone = new ConnectError('the client closed the call', Code.Canceled);
    c.abort(gone);
    c.abort(new Error('later'));
    assert.equal(c.signal.aborted, true);
    assert.equal(c.signal.reason, gone);
  });

  it("gives the method the request's view and the call's own headers, signal and deadline", () => {
    const c = call(1000);
    const values = c.values;
    const header = new Headers({ authorization: 'Bearer other' });
    const ctx = c.forMethod({ service: WorkerService, header, contextValues: values });
    assert.equal(ctx.requestHeader, header);
    assert.equal(ctx.responseHeader, c.responseHeader);
    assert.equal(ctx.responseTrailer, c.responseTrailer);
    assert.equal(ctx.method, method);
    assert.equal(ctx.protocolName, 'grpc');
    assert.equal(ctx.signal, c.signal);
    assert.ok(ctx.timeoutMs()! <= 1000);
  });
});
