import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import mysql from 'mysql2/promise';
import { tempDir } from './databases.js';
import { waitFor } from './wait.js';

/**
 * A MariaDB server of the test's own, on a free port and a throw-away data dir, so that a test can
 * stop and restart it without disturbing the shared one.
 */
export class PrivateMariaDb {
  private child: ChildProcess | undefined;
  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {}

  static async create(): Promise<PrivateMariaDb> {
    const dir = tempDir('mariadb');
    fs.chownSync(dir, uidOf('mysql'), gidOf('mysql'));
    execFileSync('mariadb-install-db', ['--no-defaults', `--datadir=${path.join(dir, 'data')}`, '--user=mysql', '--auth-root-authentication-method=normal', '--skip-test-db'], { stdio: 'ignore' });
    const db = new PrivateMariaDb(dir, await freePort());
    await db.start();
    const c = await mysql.createConnection({ host: '127.0.0.1', port: db.port, user: 'root' });
    await c.query('CREATE DATABASE edge');
    await c.end();
    return db;
  }

  get url(): string {
    return `mysql://root@127.0.0.1:${this.port}/edge`;
  }

  async start(): Promise<void> {
    this.child = spawn(
      '/usr/sbin/mariadbd',
      [
        '--no-defaults',
        `--datadir=${path.join(this.dir, 'data')}`,
        `--port=${this.port}`,
        '--bind-address=127.0.0.1',
        `--socket=${path.join(this.dir, 'sock')}`,
        `--pid-file=${path.join(this.dir, 'pid')}`,
        '--user=mysql',
        '--skip-name-resolve',
        '--innodb-buffer-pool-size=32M',
        `--log-error=${path.join(this.dir, 'error.log')}`,
      ],
      { stdio: 'ignore' },
    );
    await waitFor('the private MariaDB to answer', async () => {
      const c = await mysql.createConnection({ host: '127.0.0.1', port: this.port, user: 'root', connectTimeout: 1000 });
      await c.end();
      return true;
    }, 30_000, 100);
  }

  /** Stops the server (SIGTERM, as an operator's restart would) and waits for it to exit. */
  async stop(): Promise<void> {
    const child = this.child;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
    await exited;
    clearTimeout(timer);
  }

  async destroy(): Promise<void> {
    await this.stop();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

function uidOf(user: string): number {
  return Number(execFileSync('id', ['-u', user]).toString().trim());
}
function gidOf(user: string): number {
  return Number(execFileSync('id', ['-g', user]).toString().trim());
}

/**
 * A free port below Linux's ephemeral range (32768 and up), where no outgoing connection of the other
 * test files can take it while the server is down between a stop and a start on it.
 */
async function freePort(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const port = 10_000 + Math.floor(Math.random() * 10_000);
    if (await isFree(port)) return port;
  }
  throw new Error('no free port for a private MariaDB');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
