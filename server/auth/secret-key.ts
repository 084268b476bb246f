import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { privateDir, tightenFiles } from '../../shared/private-files.js';
import { SECRET_KEY_BYTES, SecretBox, parseSecretKey } from '../core/secret-box.js';
import { writeSecretFile } from './bootstrap.js';

export interface SecretKeyOptions {
  /** EDGE_SECRET_KEY: base64 of 32 bytes. Replicas of one database must share it. */
  key?: string;
  /** EDGE_SECRET_KEY_PREVIOUS: keys rotated away (comma-separated), still read for jobs they sealed. */
  previousKeys?: string;
  /** Without a key, the key file here (made 0600 on first start). */
  dataDir?: string;
}

export const SECRET_KEY_FILE = 'secret-key';

/**
 * The key job secrets are sealed with, kept outside the database so that a copy of the database
 * reveals nothing: EDGE_SECRET_KEY, else the key file of the data dir (made at first start). No key
 * and no data dir: no box, and the server refuses jobs with secrets.
 */
export function loadSecretBox(opts: SecretKeyOptions): { box?: SecretBox; createdFile?: string } {
  const previous = (opts.previousKeys ?? '')
    .split(',')
    .map((k) => k.trim())
    .filter(Boolean)
    .map((k, i) => parseSecretKey(k, `EDGE_SECRET_KEY_PREVIOUS (key ${i + 1})`));
  if (opts.key) return { box: new SecretBox(parseSecretKey(opts.key, 'EDGE_SECRET_KEY'), previous) };
  if (!opts.dataDir) return {};
  const file = path.join(opts.dataDir, SECRET_KEY_FILE);
  if (fs.existsSync(file)) {
    tightenFiles([file]);
    return { box: new SecretBox(parseSecretKey(fs.readFileSync(file, 'utf8'), `the key file ${file}`), previous) };
  }
  privateDir(opts.dataDir);
  const key = randomBytes(SECRET_KEY_BYTES);
  writeSecretFile(file, key.toString('base64'));
  return { box: new SecretBox(key, previous), createdFile: file };
}
