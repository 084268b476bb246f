import assert from 'node:assert/strict';
import { progressReporter } from '../../../../../worker-cli/src/lib/batch-submit.js';
import { StatusLine } from '../../../../../worker-cli/src/lib/status-line.js';

/** A stand-in for process.stderr that records what is written. */
function stream(isTTY: boolean): NodeJS.WriteStream & { text: string } {
  const s = { isTTY, text: '', write(chunk: string) { s.text += chunk; return true; } };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

describe('progress and status output on stderr', () => {
  it('draws a bar rewritten in place on a terminal, plain lines otherwise', () => {
    const tty = stream(true);
    const bar = progressReporter(tty);
    bar(500, 1000);
    bar(1000, 1000);
    assert.equal(tty.text, `\r[${'#'.repeat(15)}${'.'.repeat(15)}] 500/1000 jobs\r[${'#'.repeat(30)}] 1000/1000 jobs\n`);
    const pipe = stream(false);
    const lines = progressReporter(pipe);
    lines(500, 1000);
    lines(1000, 1000);
    assert.equal(pipe.text, 'submitted 500/1000 jobs\nsubmitted 1000/1000 jobs\n');
  });

  it('rewrites one status line on a terminal and prints each new text once otherwise', () => {
    const tty = stream(true);
    const line = new StatusLine(tty);
    line.set('waiting: a');
    line.set('waiting: a');
    line.set('waiting: b');
    line.clear();
    assert.equal(tty.text, '\r\x1b[Kwaiting: a\r\x1b[Kwaiting: b\r\x1b[K');
    const pipe = stream(false);
    const plain = new StatusLine(pipe);
    plain.set('waiting: a');
    plain.set('waiting: a');
    plain.set('waiting: b');
    plain.clear();
    plain.note('done');
    assert.equal(pipe.text, 'waiting: a\nwaiting: b\ndone\n');
  });
});
