import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import mysql from 'mysql2/promise';
import { ROOT } from './processes.js';

const run = promisify(execFile);
const SCRIPT = path.join(ROOT, 'scripts/galera-local.sh');

/** A three-node Galera cluster of the test's own, made and removed by scripts/galera-local.sh. */
export class GaleraCluster {
  private constructor(
    private readonly env: Record<string, string>,
    readonly dir: string,
    /** SQL ports of node1..node3. */
    readonly ports: number[],
  ) {}

  static async start(): Promise<GaleraCluster> {
    const dir = path.join(os.tmpdir(), `edge-galera-${randomBytes(4).toString('hex')}`);
    const base = await freePortBlock();
    const env = { ...process.env, GALERA_DIR: dir, GALERA_PORT: String(base) } as Record<string, string>;
    const cluster = new GaleraCluster(env, dir, [1, 2, 3].map((i) => base + i));
    try {
      await run(SCRIPT, ['start'], { env, timeout: 120_000 });
    } catch (err) {
      await cluster.stop();
      throw new Error(`the Galera cluster did not start: ${(err as { stderr?: string }).stderr?.trim() || (err as Error).message}`);
    }
    return cluster;
  }

  /** A database URL naming the nodes in this order (1-based), so each replica prefers its own node. */
  url(...nodes: number[]): string {
    return `mysql://root@${nodes.map((n) => `127.0.0.1:${this.ports[n - 1]}`).join(',')}/edge`;
  }

  /** The pid of a node's mariadbd, as the script recorded it. */
  pid(node: number): number {
    return Number(fs.readFileSync(path.join(this.dir, `node${node}`, 'mariadbd.pid'), 'utf8').trim());
  }

  /** Kills a node with SIGKILL (a machine lost), and waits for it to be gone. */
  async kill(node: number): Promise<void> {
    const pid = this.pid(node);
    process.kill(pid, 'SIGKILL');
    for (let i = 0; i < 100; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`node${node} (pid ${pid}) did not die`);
  }

  /** Runs one statement on a node, as root. */
  async sql(node: number, statement: string): Promise<void> {
    const c = await mysql.createConnection({ host: '127.0.0.1', port: this.ports[node - 1], user: 'root' });
    try {
      await c.query(statement);
    } finally {
      await c.end();
    }
  }

  async stop(): Promise<void> {
    await run(SCRIPT, ['stop'], { env: this.env, timeout: 60_000 });
  }
}

/**
 * A first port P with P+1..P+33 free on 127.0.0.1 (the script's SQL, group, IST and SST ports), below
 * Linux's ephemeral range (32768 and up): there a port free now could be given to any outgoing
 * connection of the other test files before the node that needs it binds it.
 */
async function freePortBlock(): Promise<number> {
  for (let tries = 0; tries < 50; tries++) {
    const base = 20_000 + Math.floor(Math.random() * 12_700);
    const ports = [1, 2, 3].flatMap((i) => [base + i, base + 10 + i, base + 20 + i, base + 30 + i]);
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return base;
  }
  throw new Error('no free block of ports for a Galera cluster');
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}
