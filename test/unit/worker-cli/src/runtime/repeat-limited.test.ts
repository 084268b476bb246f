import assert from 'node:assert/strict';
import { repeatLimited } from '../../../../../worker-cli/src/runtime/logger.js';

describe('repeatLimited log', () => {
  it('logs a message at once, counts its repeats in the window, says how many with the last error, then logs it at once again', async () => {
    const lines: string[] = [];
    const log = repeatLimited((msg, err) => lines.push(err ? `${msg}: ${(err as Error).message}` : msg), 100);
    log('database unavailable', new Error('timeout 1'));
    for (let i = 2; i <= 500; i++) log('database unavailable', new Error(`timeout ${i}`));
    log('another thing');
    assert.deepEqual(lines, ['database unavailable: timeout 1', 'another thing']);
    await new Promise((r) => setTimeout(r, 250));
    assert.deepEqual(lines.slice(2), ['database unavailable (499 more like it in 0.1 s): timeout 500']);
    log('database unavailable', new Error('later'));
    assert.equal(lines.at(-1), 'database unavailable: later');
  });
});
