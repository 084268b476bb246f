import net from 'node:net';
import type { Knex } from 'knex';
import mysql from 'mysql2';
import { redactUrl } from '../../shared/database-url.js';

/** One database endpoint of a `mysql://` URL. */
export interface MysqlHost {
  host: string;
  port: number;
}

export interface MysqlUrl {
  hosts: MysqlHost[];
  user: string;
  password: string;
  database: string;
  poolMax: number;
}

/** What the connection layer learned about the database, for the store's dialect. */
export interface ClusterInfo {
  /** The server is a Galera node (wsrep_on): change-log numbers come from a counter, not AUTO_INCREMENT. */
  galera: boolean;
  /** Stops the connection layer's timers; called when the store closes. */
  stop?: () => void;
}

/**
 * Parses `mysql://user:pass@host1:port1,host2:port2,…/db?pool=N`. Several hosts name the nodes of one
 * Galera cluster: the replica uses the first that answers and is ready, and moves to the next when it
 * stops answering. (WHATWG URL refuses a host list, hence the hand parsing.)
 */
export function parseMysqlUrl(url: string): MysqlUrl {
  const m = /^mysql:\/\/(?:([^@/]*)@)?([^/?#]*)\/([^?#]*)(?:\?([^#]*))?$/.exec(url);
  if (!m) throw new Error(`mysql URL "${redactUrl(url)}" is not of the form mysql://user:pass@host:port[,host:port…]/db`);
  const [, auth = '', hostList = '', dbPath = '', query = ''] = m;
  const database = decodeURIComponent(dbPath);
  if (!database) throw new Error(`mysql URL "${redactUrl(url)}" names no database`);
  const colon = auth.indexOf(':');
  const user = decodeURIComponent(colon < 0 ? auth : auth.slice(0, colon)) || 'root';
  const password = colon < 0 ? '' : decodeURIComponent(auth.slice(colon + 1));
  const hosts = (hostList || '127.0.0.1').split(',').map((h) => parseHost(h.trim(), url));
  const poolMax = Number(new URLSearchParams(query).get('pool') ?? 10);
  if (!Number.isInteger(poolMax) || poolMax < 1) throw new Error(`mysql URL "${redactUrl(url)}": pool must be a whole number ≥ 1`);
  return { hosts, user, password, database, poolMax };
}

function parseHost(h: string, url: string): MysqlHost {
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(h);
  if (!m) throw new Error(`mysql URL "${redactUrl(url)}": "${h}" is not a host or host:port`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] ? Number(m[2]) : 3306 };
}

/** How long a host may take to accept a TCP connection before the next one is tried. */
const PROBE_MS = 1500;

/**
 * Which host of the list new connections go to. `stale` asks for a new choice: knex asks the
 * connection provider again when its expiration checker says so (and then drops pooled connections,
 * which by then point at a node that failed).
 */
export class HostChoice {
  active = 0;
  stale = false;
  constructor(readonly hosts: MysqlHost[]) {}

  /** The host at `host:port` failed: choose again, starting after it. */
  failed(host?: string, port?: number): void {
    if (this.hosts.length < 2) return;
    const i = this.hosts.findIndex((h) => h.host === host && h.port === port);
    // A connection left over from a host given up already says nothing new.
    if (i !== -1 && i !== this.active) return;
    this.active = (this.active + 1) % this.hosts.length;
    this.stale = true;
  }

  /** Connections fail and the host is unknown: probe again from the one in use. */
  suspect(): void {
    if (this.hosts.length > 1) this.stale = true;
  }

  async choose(): Promise<MysqlHost> {
    this.active = await firstReachable(this.hosts, this.active);
    // Cleared once chosen, not before: knex refuses a provider whose checker still says expired right
    // after it was asked (and a failure seen during the probe is one the probe has just answered).
    this.stale = false;
    return this.hosts[this.active]!;
  }
}

/**
 * The knex config of a MySQL/MariaDB store. New pooled connections go to the chosen host while it
 * accepts connections and, on Galera, is ready for queries (wsrep_ready); otherwise the next host
 * that accepts a connection is chosen. See watchConnections for how failures are noticed.
 */
export function mysqlConfig(parsed: MysqlUrl, cluster: ClusterInfo, choice = new HostChoice(parsed.hosts)): Knex.Config {
  const base = {
    user: parsed.user,
    password: parsed.password,
    database: parsed.database,
    charset: 'utf8mb4',
    supportBigNumbers: true,
    bigNumberStrings: false,
    connectTimeout: 10_000,
  };
  const hostOf = (conn: unknown) => (conn as { config?: { host?: string; port?: number } }).config;
  return {
    client: 'mysql2',
    connection:
      parsed.hosts.length === 1
        ? { ...base, ...parsed.hosts[0]! }
        : async () => ({ ...base, ...(await choice.choose()), expirationChecker: () => choice.stale }),
    pool: {
      min: 0,
      max: parsed.poolMax,
      afterCreate: (conn: RawConnection, done: (err: Error | null, conn: unknown) => void) => {
        // Queue claims take row locks; READ COMMITTED avoids gap locks that make them block each other.
        conn.query('SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED', (err) => {
          if (err) return done(err, conn);
          conn.query("SHOW VARIABLES LIKE 'wsrep_on'", (err2, rows) => {
            if (err2) return done(err2, conn);
            if (firstValue(rows) !== 'ON') return done(null, conn);
            cluster.galera = true;
            conn.query("SHOW STATUS LIKE 'wsrep_ready'", (err3, ready) => {
              // Causal reads: a read waits until this node has applied what the cluster committed
              // before it, so a change made through one replica is seen through every other.
              if (!err3 && firstValue(ready) === 'ON') return conn.query('SET SESSION wsrep_sync_wait = 1', (err4) => done(err4, conn));
              const h = hostOf(conn);
              choice.failed(h?.host, h?.port);
              done(err3 ?? new Error(`database node ${h?.host}:${h?.port} is not ready for queries (wsrep_ready OFF): it has left its cluster`), conn);
            });
          });
        });
      },
    },
    acquireConnectionTimeout: 10_000,
  };
}

type RawConnection = { query(sql: string, cb: (err: Error | null, rows?: unknown) => void): void; config?: unknown };

function firstValue(rows: unknown): string | undefined {
  const row = (rows as Array<Record<string, unknown>> | undefined)?.[0];
  return row ? String(row.Value ?? row.VALUE ?? '') : undefined;
}

/** The first host, from `start` on round the list, that accepts a TCP connection; `start` when none does. */
async function firstReachable(hosts: MysqlHost[], start: number): Promise<number> {
  for (let k = 0; k < hosts.length; k++) {
    const i = (start + k) % hosts.length;
    if (await accepts(hosts[i]!)) return i;
  }
  return start;
}

function accepts({ host, port }: MysqlHost): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(PROBE_MS, () => finish(false));
    socket.once('connect', () => finish(true));
    socket.once('error', () => finish(false));
  });
}

const CONNECTION_LOST = new Set(['PROTOCOL_CONNECTION_LOST', 'ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT']);

/** How often the host in use is asked whether it is still ready for queries (Galera, several hosts). */
const HEALTH_MS = 2000;

/**
 * Notices a node's failure from the pool's side. A connection that cannot be made, or one lost under
 * a query (a node died), has the host chosen again. A Galera node cut off from the primary component
 * keeps its connections open and either refuses queries (ER_UNKNOWN_COM_ERROR 1047, "WSREP has not yet
 * prepared node for application use") or, for a causal read (wsrep_sync_wait), holds it until a lock
 * wait timeout: so on a cluster with several hosts listed, the host in use is asked every HEALTH_MS
 * whether it is ready (wsrep_ready), on a connection of its own; when it is not, every pooled
 * connection to it is closed (queries under way fail and their transactions run again elsewhere) and
 * the next host is chosen.
 */
export function watchConnections(knex: Knex, choice: HostChoice, parsed: MysqlUrl, cluster: ClusterInfo): void {
  type Pooled = { __knexUid?: string; __knex__disposed?: unknown; config?: { host?: string; port?: number }; destroy?(): void };
  const live = new Map<string, Pooled>();
  const pool = knex.client.pool as { on?(event: string, fn: (...args: never[]) => void): void } | undefined;
  pool?.on?.('createSuccess', (_id: unknown, resource: Pooled) => {
    if (resource.__knexUid) live.set(resource.__knexUid, resource);
  });
  pool?.on?.('destroySuccess', (_id: unknown, resource: Pooled) => {
    if (resource.__knexUid) live.delete(resource.__knexUid);
  });
  pool?.on?.('createFail', () => choice.suspect());
  knex.on('query-error', (err: { errno?: number; code?: string }, obj: { __knexUid?: string }) => {
    const conn = obj?.__knexUid ? live.get(obj.__knexUid) : undefined;
    if (err?.errno === 1047) {
      if (conn) conn.__knex__disposed = err;
      choice.failed(conn?.config?.host, conn?.config?.port);
    } else if (CONNECTION_LOST.has(err?.code ?? '')) {
      choice.failed(conn?.config?.host, conn?.config?.port);
    }
  });
  if (parsed.hosts.length < 2) return;
  let checking = false;
  const timer = setInterval(() => {
    if (!cluster.galera || checking) return;
    checking = true;
    const host = choice.hosts[choice.active]!;
    void nodeReady(parsed, host).then((ready) => {
      checking = false;
      if (ready) return;
      choice.failed(host.host, host.port);
      for (const conn of live.values()) {
        if (conn.config?.host !== host.host || conn.config?.port !== host.port) continue;
        conn.__knex__disposed = new Error(`database node ${host.host}:${host.port} is not ready for queries`);
        conn.destroy?.();
      }
    });
  }, HEALTH_MS);
  timer.unref();
  cluster.stop = () => clearInterval(timer);
}

/** Whether a Galera node answers, within a second or two, that it is ready for queries. */
function nodeReady(parsed: MysqlUrl, host: MysqlHost): Promise<boolean> {
  return new Promise((resolve) => {
    const conn = mysql.createConnection({ host: host.host, port: host.port, user: parsed.user, password: parsed.password, connectTimeout: HEALTH_MS });
    let settled = false;
    const finish = (ready: boolean) => {
      if (settled) return;
      settled = true;
      conn.destroy();
      resolve(ready);
    };
    conn.on('error', () => finish(false));
    conn.query({ sql: "SHOW STATUS LIKE 'wsrep_ready'", timeout: HEALTH_MS }, (err, rows) => finish(!err && firstValue(rows) === 'ON'));
  });
}
