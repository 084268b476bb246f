import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LINE_DELAY_MS, LineSink } from '../../../../../worker-cli/src/runtime/logger.js';
import { tempDir } from '../../../../helpers/databases.js';

const LOGGER = fileURLToPath(new URL('../../../../../worker-cli/src/runtime/logger.ts', import.meta.url));

describe('LineSink (log lines)', () => {
  it('writes information lines together, a short while later; a warning at once, behind the lines queued before it', async () => {
    const writes: string[] = [];
    const sink = new LineSink((text) => writes.push(text));
    sink.later('a\n');
    await new Promise((r) => setImmediate(r));
    sink.later('b\n');
    assert.deepEqual(writes, []);
    await new Promise((r) => setTimeout(r, LINE_DELAY_MS + 50));
    assert.deepEqual(writes, ['a\nb\n']);
    sink.later('c\n');
    sink.now('warn\n');
    assert.deepEqual(writes, ['a\nb\n', 'c\nwarn\n']);
    await new Promise((r) => setTimeout(r, LINE_DELAY_MS + 50));
    assert.equal(writes.length, 2, 'nothing is written twice');
  });

  for (const format of ['text', 'json']) {
    it(`loses no line when the process exits in the same turn (${format}, to stderr and to a file)`, () => {
      const file = path.join(tempDir('line-sink'), 'logs', 'worker.log');
      const script = `
        const { createLogger } = await import(${JSON.stringify(LOGGER)});
        for (const file of [undefined, ${JSON.stringify(file)}]) {
          const log = createLogger({ format: '${format}', level: 'info', file });
          log.info('first'); log.warn('second'); log.info('third');
        }
        process.exit(3);`;
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
      assert.equal(r.status, 3, r.stderr);
      for (const out of [r.stderr, fs.readFileSync(file, 'utf8')]) {
        const said = out.trim().split('\n').map((l) => (format === 'json' ? (JSON.parse(l) as { msg: string }).msg : l.split(' ').at(-1)));
        assert.deepEqual(said, ['first', 'second', 'third'], out);
      }
    });
  }
});
