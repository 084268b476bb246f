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
        stream.on('data', (chunk: Buffer) => this.write(masker.push(chunk)));
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
   * them open is not waited for longer than `graceMs`.
   */
  async close(graceMs = 2000): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.ended), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
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
