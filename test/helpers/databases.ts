import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mysql from 'mysql2/promise';

/** A throw-away database for one test or suite; drop() removes every trace of it. */
export interface TestDatabase {
  readonly url: string;
  drop(): Promise<void>;
}

export const MARIADB = { host: '127.0.0.1', port: 3306, user: 'root', password: '' };

// On globalThis: mocha loads the root hooks (root-hooks.ts) with require and the test files with
// import, which makes two instances of this module in one process; both must see the same folders.
const tempDirs: Set<string> = ((globalThis as { [k: symbol]: Set<string> })[Symbol.for('edge.test.tempDirs')] ??= new Set<string>());

/** A temporary folder, removed when the test run ends. */
export function tempDir(prefix: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `edge-${prefix}-`));
  tempDirs.add(dir);
  return dir;
}

/**
 * Removes the temporary folders made so far. Mocha calls it after each test file (root-hooks.ts):
 * in a parallel run its worker processes are ended at the close without their 'exit' event.
 */
export function removeTempDirs(): void {
  for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

process.once('exit', removeTempDirs);

export async function createSqliteDatabase(): Promise<TestDatabase> {
  const dir = tempDir('sqlite');
  return {
    url: `sqlite:${path.join(dir, 'edge.db')}`,
    drop: async () => {
      fs.rmSync(dir, { recursive: true, force: true });
      tempDirs.delete(dir);
    },
  };
}

/** A fresh database on the local MariaDB. A missing MariaDB fails the test: it is never skipped. */
export async function createMariaDbDatabase(): Promise<TestDatabase> {
  const name = `edge_test_${randomBytes(6).toString('hex')}`;
  let conn;
  try {
    conn = await mysql.createConnection({ ...MARIADB, connectTimeout: 5000 });
  } catch (err) {
    throw new Error(`MariaDB is not reachable at ${MARIADB.host}:${MARIADB.port} (${(err as Error).message}); scripts/test-prereqs.sh (run by npm test) starts it`);
  }
  await conn.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4`);
  await conn.end();
  return {
    url: `mysql://${MARIADB.user}@${MARIADB.host}:${MARIADB.port}/${name}`,
    async drop() {
      const c = await mysql.createConnection(MARIADB);
      await c.query(`DROP DATABASE IF EXISTS \`${name}\``);
      await c.end();
    },
  };
}

/** The two stores every store and end-to-end test runs against. */
export const DATABASES: { name: string; create: () => Promise<TestDatabase> }[] = [
  { name: 'SQLite', create: createSqliteDatabase },
  { name: 'MariaDB', create: createMariaDbDatabase },
];
