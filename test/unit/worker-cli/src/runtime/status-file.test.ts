import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { StatusFileWriter, readStatus, type LocalStatus } from '../../../../../worker-cli/src/runtime/status-file.js';
import { tempDir } from '../../../../helpers/databases.js';
import { setTimeout as sleep } from 'node:timers/promises';

/** A worker's status as the writer's callbacks see it; tests change it and count the writes. */
function harness(intervalMs: number) {
  const file = path.join(tempDir('status'), 'w.status.json');
  const state = { jobs: 0, maintenance: false };
  let writes = 0;
  let clock = 1_000_000;
  const writer = new StatusFileWriter({
    file,
    intervalMs,
    now: () => clock,
    status: () => {
      writes++;
      return { name: 'w', state: 'RUNNING', usedSlots: state.jobs, maintenance: state.maintenance } as unknown as LocalStatus;
    },
    significant: () => String(state.maintenance),
    onError: (err) => assert.fail(err),
  });
  const read = () => readStatus(file) as LocalStatus;
  return { file, state, writer, read, writes: () => writes, advance: (ms: number) => (clock += ms) };
}

describe('StatusFileWriter: the status file at most once a second, never stale for longer', () => {
  it('writes the first change at once, holds later job churn for a trailing write with the latest status', async () => {
    const h = harness(150);
    h.state.jobs = 1;
    h.writer.changed();
    assert.equal(h.writes(), 1);
    assert.equal(h.read().usedSlots, 1);
    for (let i = 2; i <= 50; i++) {
      h.state.jobs = i;
      h.advance(1);
      h.writer.changed();
    }
    assert.equal(h.writes(), 1, 'job churn within the interval is not written at once');
    await sleep(250);
    assert.equal(h.writes(), 2, 'one trailing write');
    assert.equal(h.read().usedSlots, 50, 'the trailing write holds the status as it is then');
    h.writer.close();
  });

  it('writes at once again once the interval has passed', () => {
    const h = harness(1000);
    h.writer.changed();
    h.advance(1000);
    h.state.jobs = 7;
    h.writer.changed();
    assert.equal(h.writes(), 2);
    assert.equal(h.read().usedSlots, 7);
    h.writer.close();
  });

  it('writes a significant change (maintenance, draining, settings) at once, inside the interval', async () => {
    const h = harness(150);
    h.writer.changed();
    h.state.jobs = 2;
    h.advance(1);
    h.writer.changed();
    assert.equal(h.writes(), 1);
    h.state.maintenance = true;
    h.advance(1);
    h.writer.changed();
    assert.equal(h.writes(), 2);
    assert.equal(h.read().maintenance, true);
    assert.equal(h.read().usedSlots, 2, 'the job churn held so far goes with it');
    await sleep(250);
    assert.equal(h.writes(), 2, 'nothing left for a trailing write');
    h.writer.close();
  });

  it('writes nothing after close, not even a pending trailing write (the worker removes the file as it exits)', async () => {
    const h = harness(100);
    h.writer.changed();
    h.advance(1);
    h.writer.changed();
    h.writer.close();
    fs.rmSync(h.file);
    await sleep(200);
    h.writer.changed();
    assert.equal(h.writes(), 1);
    assert.equal(fs.existsSync(h.file), false);
  });
});
