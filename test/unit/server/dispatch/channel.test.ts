import assert from 'node:assert/strict';
import { Channel } from '../../../../server/dispatch/channel.js';

describe('Channel: the queue between the dispatcher and a worker\'s stream', () => {
  it('yields what was pushed, in order, to a consumer that waits for it', async () => {
    const ch = new Channel<number>();
    ch.push(1);
    const got: number[] = [];
    const reading = (async () => {
      for await (const n of ch) got.push(n);
    })();
    ch.push(2);
    await new Promise((r) => setImmediate(r));
    ch.push(3);
    ch.close();
    await reading;
    assert.deepEqual(got, [1, 2, 3]);
  });

  it('refuses pushes once closed, and hands back what was never read', () => {
    const ch = new Channel<string>();
    assert.equal(ch.push('a'), true);
    ch.close();
    assert.equal(ch.isClosed, true);
    assert.equal(ch.push('b'), false);
    assert.deepEqual(ch.drainUnread(), ['a']);
    assert.deepEqual(ch.drainUnread(), []);
  });

  it('closes when its signal aborts, ending the consumer', async () => {
    const ac = new AbortController();
    const ch = new Channel<number>(ac.signal);
    const reading = (async () => {
      const seen: number[] = [];
      for await (const n of ch) seen.push(n);
      return seen;
    })();
    ch.push(7);
    await new Promise((r) => setImmediate(r));
    ac.abort();
    assert.deepEqual(await reading, [7]);
    assert.equal(ch.push(8), false);
  });
});

describe('Channel: read through its iterator methods', () => {
  it('settles a pending read with the next push, and ends a pending read on close', async () => {
    const ch = new Channel<number>();
    const first = ch.next();
    ch.push(5);
    assert.deepEqual(await first, { value: 5, done: false });
    const second = ch.next();
    ch.close();
    assert.deepEqual(await second, { value: undefined, done: true });
  });

  it('fails a pending read with the channel\'s failure, after what was queued', async () => {
    const ch = new Channel<number>();
    ch.push(1);
    ch.fail(new Error('replaced'));
    assert.deepEqual(await ch.next(), { value: 1, done: false });
    await assert.rejects(ch.next(), /replaced/);
    const waiting = new Channel<number>();
    const read = waiting.next();
    waiting.fail(new Error('gone'));
    await assert.rejects(read, /gone/);
  });

  it('keeps what is queued for drainUnread when the reader stops early', async () => {
    const ch = new Channel<number>();
    ch.push(1);
    ch.push(2);
    for await (const n of ch) if (n === 1) break;
    ch.close();
    assert.deepEqual(ch.drainUnread(), [2]);
  });
});
