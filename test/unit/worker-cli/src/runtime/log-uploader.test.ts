import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { Code } from '@connectrpc/connect';
import { LogUploader } from '../../../../../worker-cli/src/runtime/log-uploader.js';
import { silentLogger } from '../../../../../worker-cli/src/runtime/logger.js';
import { tempDir } from '../../../../helpers/databases.js';
import { InMemoryWorkerApi } from '../../../../helpers/in-memory-api.js';
import { waitFor } from '../../../../helpers/wait.js';

describe('LogUploader: a job\'s spool file to the server, nothing lost, nothing doubled', () => {
  let api: InMemoryWorkerApi;
  let spool: string;

  beforeEach(() => {
    api = new InMemoryWorkerApi();
    spool = path.join(tempDir('uploader'), 'job.1.log');
    fs.writeFileSync(spool, '');
  });

  it('uploads what the job writes while it runs, once enough has gathered, and the rest on finish', async () => {
    const up = new LogUploader(api, spool, 'j', 1, silentLogger, { flushBytes: 10, flushMs: 60_000 });
    fs.appendFileSync(spool, '0123456789abc');
    await waitFor('the first batch', () => api.log('j', 1).length >= 10);
    fs.appendFileSync(spool, 'tail');
    await up.finish();
    assert.equal(api.log('j', 1).toString(), '0123456789abctail');
  });

  it('sends a small write after the flush delay, without waiting for the job to end', async () => {
    const up = new LogUploader(api, spool, 'j', 1, silentLogger, { flushBytes: 64 * 1024, flushMs: 50 });
    fs.appendFileSync(spool, 'hello\n');
    await waitFor('the delayed batch', () => api.log('j', 1).toString() === 'hello\n', 5_000, 10);
    await up.finish();
  });

  it('resolves finish() only once the server has stored every byte, in messages of at most 1 MiB', async () => {
    const data = randomBytes(2.5 * 1024 * 1024);
    fs.writeFileSync(spool, data);
    const up = new LogUploader(api, spool, 'j', 1, silentLogger);
    await up.finish();
    assert.ok(api.log('j', 1).equals(data));
    assert.equal(api.chunks, 3);
  });

  it('ends a stream after segmentBytes to learn what the server stored, and goes on in a new one', async () => {
    const up = new LogUploader(api, spool, 'j', 1, silentLogger, { flushBytes: 1, segmentBytes: 10 });
    for (const piece of ['aaaaaa', 'bbbbbb', 'cccccc']) {
      fs.appendFileSync(spool, piece);
      await waitFor(`${piece} to be stored`, () => api.log('j', 1).toString().endsWith(piece), 5_000, 5);
    }
    await up.finish();
    assert.equal(api.log('j', 1).toString(), 'aaaaaabbbbbbcccccc');
    assert.equal(api.streams, 2, 'the second write passed 10 bytes and ended the first stream');
  });

  it('resumes at the server\'s offset after broken streams: the stored log is the spool, byte for byte', async () => {
    api.breakStreams = 3;
    const pieces = [randomBytes(5000), randomBytes(7000), randomBytes(3000)];
    const up = new LogUploader(api, spool, 'j', 1, silentLogger, { flushBytes: 1 });
    let total = 0;
    for (const p of pieces) {
      fs.appendFileSync(spool, p);
      total += p.length;
      await waitFor('the piece to be stored', () => api.log('j', 1).length === total, 10_000, 5);
    }
    await up.finish();
    assert.equal(api.breakStreams, 0, 'three streams broke after the server had stored their data');
    assert.ok(api.log('j', 1).equals(Buffer.concat(pieces)));
    assert.equal(api.resentBytes, 0, 'each new stream started where the server\'s log ended');
  });

  it('stops and says so when the server refuses the attempt\'s log', async () => {
    api.refuse = Code.FailedPrecondition;
    let refused = '';
    const up = new LogUploader(api, spool, 'j', 1, silentLogger, { flushBytes: 1, onRefused: (m) => (refused = m) });
    fs.appendFileSync(spool, 'x');
    await up.finish();
    assert.match(refused, /attempt taken back/);
    assert.equal(api.log('j', 1).length, 0);
  });

  it('stops at once when abandoned, even with output waiting', async () => {
    const up = new LogUploader(api, spool, 'j', 1, silentLogger, { flushBytes: 1024 * 1024, flushMs: 60_000 });
    fs.appendFileSync(spool, 'never sent');
    up.abandon();
    await up.finish();
    assert.equal(api.log('j', 1).length, 0);
  });
});
