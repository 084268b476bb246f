import assert from 'node:assert/strict';
import { parseQueueList, queueNameProblem, workerNameProblem } from '../../../shared/names.js';

describe('names: queues and workers', () => {
  it('accepts queue names of 1 to 256 characters from [A-Za-z0-9._:-]', () => {
    for (const q of ['default', 'remote', 'wisconsin_site', 'a.b:c-d', 'x', 'q'.repeat(256)]) assert.equal(queueNameProblem(q), undefined, q);
  });

  it('says what is wrong with a queue name: empty, too long (shortened), or a character outside the set', () => {
    assert.equal(queueNameProblem(''), 'queue name is empty');
    const long = queueNameProblem('q'.repeat(257))!;
    assert.match(long, /is 257 characters long; the limit is 256/);
    assert.ok(long.length < 150, 'a long name is shortened in the message');
    assert.match(queueNameProblem('a b')!, /"a b" may only hold the characters/);
    assert.match(queueNameProblem('é')!, /may only hold/);
  });

  it('limits worker names to 128 characters of the same set', () => {
    assert.equal(workerNameProblem('w'.repeat(128)), undefined);
    assert.match(workerNameProblem('w'.repeat(129))!, /129 characters long; the limit is 128/);
    assert.equal(workerNameProblem(''), 'worker name is empty');
    assert.match(workerNameProblem('a/b')!, /"a\/b" may only hold/);
  });

  it('splits a queue list, trimming, dropping empty items and repeats', () => {
    assert.deepEqual(parseQueueList(' a, b,,a ,c,'), ['a', 'b', 'c']);
    assert.deepEqual(parseQueueList(''), []);
  });
});
