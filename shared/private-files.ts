import fs from 'node:fs';

/**
 * The server and the worker keep secrets on disk (the database with job env values, logs, token
 * hashes and the HMAC key; the worker's token; job output): nothing they write is for other users.
 */

/** The umask both processes set first thing, so every file is private from its first write. */
export const PRIVATE_UMASK = 0o077;

export function usePrivateUmask(): void {
  process.umask(PRIVATE_UMASK);
}

/**
 * A folder only its owner may enter (0700): made so, or tightened when it is ours. A shared folder
 * given by mistake (sticky like /tmp, or another user's) is left as it is.
 */
export function privateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.statSync(dir);
  const ours = st.uid === process.getuid?.() && (st.mode & 0o1000) === 0;
  if (ours && (st.mode & 0o077) !== 0) fs.chmodSync(dir, 0o700);
}

/** Files of ours left readable by an older version (or another umask) are made 0600; missing ones are skipped. */
export function tightenFiles(files: string[]): void {
  for (const file of files) {
    try {
      fs.chmodSync(file, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}
