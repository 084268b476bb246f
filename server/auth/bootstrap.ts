import fs from 'node:fs';
import path from 'node:path';
import { privateDir } from '../../shared/private-files.js';
import type { TokenKindName } from '../store/credentials.js';
import type { Store } from '../store/store.js';
import { generateToken, hashToken } from './tokens.js';

export interface BootstrapOptions {
  /** From EDGE_ADMIN_TOKEN: an admin token the server accepts (stored hashed on first sight). */
  adminToken?: string;
  /** From EDGE_REGISTRATION_SECRET: a registration secret the server accepts. */
  registrationSecret?: string;
  /** Where a fresh server writes the credentials it makes (mode 0600). */
  dataDir?: string;
}

export interface BootstrapResult {
  /** Files written now, by what they hold: the server prints the paths, never the values. */
  written: { adminToken?: string; registrationSecret?: string };
}

export const ADMIN_TOKEN_FILE = 'admin-token';
export const REGISTRATION_SECRET_FILE = 'registration-secret';

/**
 * Makes sure the server never starts open: tokens given by environment are stored (hashed); a
 * database with no admin token or no registration secret gets one of each, written to the data dir.
 * Replicas of one database share what the first of them made.
 */
export async function bootstrapCredentials(store: Store, opts: BootstrapOptions, now: number): Promise<BootstrapResult> {
  const written: BootstrapResult['written'] = {};
  const ensure = async (kind: TokenKindName, given: string | undefined, label: string, file: string): Promise<string | undefined> => {
    if (given) {
      if (given.length < 16 || given.length > 256 || !/^[A-Za-z0-9_-]+$/.test(given)) {
        throw new Error(`${label} must be 16-256 characters from [A-Za-z0-9_-]`);
      }
      const hash = await hashToken(store, given);
      // Once stored, a given token keeps its record: revoking it holds even across restarts.
      if (!(await store.findToken(hash))) {
        try {
          await store.createToken({ kind, name: `${label} (environment)`, team: '', hash }, now);
        } catch (err) {
          // Replicas starting together with the same environment: one of them stored it first.
          if (!(await store.findToken(hash))) throw err;
        }
      }
      return undefined;
    }
    if ((await store.countTokens(kind)) > 0) return undefined;
    if (!opts.dataDir) throw new Error(`no ${kind} credential: set ${label} or give the server a data dir to create one in`);
    const value = generateToken(kind);
    privateDir(opts.dataDir);
    const target = path.join(opts.dataDir, file);
    writeSecretFile(target, value);
    await store.createToken({ kind, name: `first ${kind} credential (${file})`, team: '', hash: await hashToken(store, value) }, now);
    return target;
  };
  written.adminToken = await ensure('admin', opts.adminToken, 'EDGE_ADMIN_TOKEN', ADMIN_TOKEN_FILE);
  written.registrationSecret = await ensure('registration', opts.registrationSecret, 'EDGE_REGISTRATION_SECRET', REGISTRATION_SECRET_FILE);
  return { written };
}

/** Writes a secret readable by its owner only (0600), replacing what was there. */
export function writeSecretFile(file: string, value: string): void {
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, value + '\n', { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
}
