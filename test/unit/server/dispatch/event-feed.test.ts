import assert from 'node:assert/strict';
import type { JobEventRecord } from '../../../../server/domain/records.js';
import { EventFeed } from '../../../../server/dispatch/event-feed.js';
import type { Store } from '../../../../server/store/store.js';

/** A change log in memory that counts its reads. */
function logStore() {
  const events: JobEventRecord[] = [];
  let reads = 0;
  const store = {
    lastEventSeq: async () => 0,
    readEvents: async (after: number, limit: number) => {
      reads++;
      return events.filter((e) => e.seq > after).slice(0, limit);
    },
  };
  const add = () => events.push({ seq: events.length + 1, jobId: 'j', queue: 'q', kind: 'state', state: 'QUEUED', attempt: 1, workerName: null, exitCode: null, signal: null, reason: '', at: 0 });
  return { store: store as unknown as Store, add, reads: () => reads };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('EventFeed', () => {
  it('reads the log at once for a kick, for a watched kick only while a watcher waits, and otherwise at its poll', async () => {
    const log = logStore();
    const feed = new EventFeed({ store: log.store, pollMs: 60_000, log: () => undefined });
    const seen: number[] = [];
    feed.subscribe((events) => seen.push(...events.map((e) => e.seq)));
    await feed.start();
    await turn();
    const first = log.reads();

    log.add();
    feed.kickIfWatched();
    await turn();
    assert.equal(log.reads(), first, 'nobody waits: no read before the poll');
    assert.deepEqual(seen, []);

    const news = feed.waitForNews(60_000, new AbortController().signal);
    feed.kickIfWatched();
    await news;
    assert.equal(log.reads(), first + 1);
    assert.deepEqual(seen, [1]);

    log.add();
    feed.kick();
    await turn();
    assert.deepEqual(seen, [1, 2]);
    await feed.close();
  });
});
