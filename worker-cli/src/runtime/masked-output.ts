import fs from 'node:fs';
import type { Readable } from 'node:stream';
import { SecretMasker } from './secret-masker.js';

/**
 * The output of a job that has secrets: its stdout and stderr come through pipes, each through its
 * own masker (a value split between two reads of one stream is still caught), into the spool file the
 * LogUploader reads. So no secret value reaches the spool, the server or the log.
 */
export class MaskedOutput {
  private readonly fd: number;
  private readonly ended: Promise<void>[] = [];
  private readonly streams: Readable[] = [];
  private closed = false;
  private lastRead = -Infinity;

  constructor(
    spoolPath: string,
    private readonly values: string[],
  ) {
    this.fd = fs.openSync(spoolPath, 'a');
  }

  attach(stream: Readable): void {
    const masker = new SecretMasker(this.values);
    this.streams.push(stream);
    this.ended.push(
      new Promise<void>((resolve) => {
        stream.on('data', (chunk: Buffer) => {
          this.lastRead = performance.now();
          this.write(masker.push(chunk));
        });
        const done = () => {
          this.write(masker.end());
          resolve();
        };
        stream.once('end', done);
        stream.once('close', done);
        stream.once('error', done);
      }),
    );
  }

  /**
   * Waits for the pipes to end after the process exited; a background child of the job that keeps
   * them open is not waited for longer than `graceMs` without a byte from them (`maxMs` in all).
   */
  async close(graceMs = 2000, maxMs = 30_000): Promise<void> {
    const all = Promise.all(this.ended).then(() => true);
    const until = performance.now() + maxMs;
    for (;;) {
      let timer: NodeJS.Timeout | undefined;
      const ended = await Promise.race([all, new Promise<boolean>((resolve) => (timer = setTimeout(resolve, graceMs, false)))]);
      clearTimeout(timer);
      if (ended) break;
      // Timers run before the event loop reads the pipes: a worker starved of CPU past the grace
      // (a busy machine) would cut pipes whose last bytes and end were already waiting. Read once more.
      await new Promise((resolve) => setImmediate(resolve));
      if (performance.now() - this.lastRead >= graceMs || performance.now() >= until) break;
    }
    for (const s of this.streams) s.destroy();
    await Promise.all(this.ended);
    this.closed = true;
    fs.closeSync(this.fd);
  }

  private write(data: Buffer): void {
    if (this.closed || !data.length) return;
    fs.writeSync(this.fd, data);
  }
}
