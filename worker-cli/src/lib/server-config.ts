import os from 'node:os';
import path from 'node:path';

/** Where the server keeps its embedded database and generated files unless told otherwise. */
export const DEFAULT_DATA_DIR = path.join(os.homedir(), '.edge', 'server');

/** The database URL: the flag, else EDGE_DATABASE_URL (oclif reads it), else SQLite in the data dir. */
export function resolveDatabaseUrl(flag: string | undefined, dataDir: string): string {
  return flag || `sqlite:${path.join(dataDir, 'edge.db')}`;
}
