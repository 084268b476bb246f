import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { MaskedOutput } from '../../../../../worker-cli/src/runtime/masked-output.js';
import { MASK } from '../../../../../worker-cli/src/runtime/secret-masker.js';

describe("MaskedOutput: a job's piped output, masked, into its spool", () => {
  const dirs: string[] = [];
  const spoolIn = () => {
    dirs.push(fs.mkdtempSync(path.join(os.tmpdir(), 'edge-masked-')));
    return path.join(dirs.at(-1)!, 'spool');
  };
  after(() => {
    for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
  });

  it('keeps the last bytes of a pipe even when the worker was starved of CPU past the grace (a busy machine)', async () => {
    const spool = spoolIn();
    const out = new MaskedOutput(spool, ['s3cret']);
    const pipe = new PassThrough();
    out.attach(pipe);
    // The process's last line and the pipe's end arrive with the event loop's next look at I/O…
    setImmediate(() => pipe.end('last line s3cret\nbye\n'));
    const closing = out.close(50);
    // …which comes only after the grace has run out: the worker got no CPU meanwhile.
    const t = Date.now();
    while (Date.now() - t < 150);
    await closing;
    assert.equal(fs.readFileSync(spool, 'utf8'), `last line ${MASK}\nbye\n`);
  });

  it('stops waiting for a pipe held open by a background child once it has been quiet for the grace', async () => {
    const spool = spoolIn();
    const out = new MaskedOutput(spool, ['s3cret']);
    const held = new PassThrough();
    out.attach(held);
    held.write('before\n');
    const t = performance.now();
    await out.close(50);
    assert.ok(performance.now() - t < 1000, 'not waited for longer than about the grace');
    assert.equal(fs.readFileSync(spool, 'utf8'), 'before\n');
  });
});
