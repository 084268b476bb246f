import { spawn } from 'node:child_process';
import { mono } from '../lib/stats.js';

export type PeerMode = 'spawn' | 'noop';

/** One handled job: when it was enqueued, when its handler started, when the handler finished. */
export type Record3 = [enqueued: number, started: number, finished: number];

/** The peers' job handler: spawn `true` and wait for it (like an edge job), or return at once. */
export function makeHandler(mode: PeerMode, records: Record3[]): (payload: { t: number }) => Promise<void> {
  return async (payload) => {
    const started = mono();
    if (mode === 'spawn') {
      await new Promise<void>((resolve, reject) => {
        const p = spawn('true', [], { stdio: 'ignore' });
        p.once('error', reject);
        p.once('exit', () => resolve());
      });
    }
    records.push([payload.t, started, mono()]);
  };
}
