import fs from 'node:fs';
import path from 'node:path';
import { privateDir } from '../../../shared/private-files.js';
import { readSecretFile } from '../lib/server-config.js';

/**
 * The worker's own token, traded once for the registration secret and kept in
 * `<state-dir>/<name>.token`, readable by its owner only. Never logged.
 */
export class WorkerTokenFile {
  private readonly file: string;
  private value: string | undefined;

  constructor(private readonly stateDir: string, name: string) {
    this.file = path.join(stateDir, `${name}.token`);
    this.value = readSecretFile(this.file);
  }

  get token(): string | undefined {
    return this.value;
  }

  keep(token: string): void {
    this.value = token;
    privateDir(this.stateDir);
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, token + '\n', { mode: 0o600 });
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, this.file);
  }

  drop(): void {
    this.value = undefined;
    fs.rmSync(this.file, { force: true });
  }
}
