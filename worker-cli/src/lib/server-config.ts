import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Where the server keeps its embedded database and generated files unless told otherwise. */
export const DEFAULT_DATA_DIR = path.join(os.homedir(), '.edge', 'server');

/** The database URL: the flag, else EDGE_DATABASE_URL (oclif reads it), else SQLite in the data dir. */
export function resolveDatabaseUrl(flag: string | undefined, dataDir: string): string {
  return flag || `sqlite:${path.join(dataDir, 'edge.db')}`;
}

/**
 * A credential from its environment variable, else from the file a fresh local server wrote into its
 * data dir (`EDGE_DATA_DIR` or the default), so local commands work after `npm start` with nothing set.
 */
export function localCredential(envName: 'EDGE_TOKEN' | 'EDGE_REGISTRATION_SECRET', file: 'admin-token' | 'registration-secret'): string | undefined {
  const fromEnv = process.env[envName];
  if (fromEnv) return fromEnv.trim();
  return readSecretFile(path.join(process.env.EDGE_DATA_DIR || DEFAULT_DATA_DIR, file));
}

/** The first line of a secret file, or undefined when it is not there. */
export function readSecretFile(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').split('\n')[0]!.trim() || undefined;
  } catch {
    return undefined;
  }
}
