import net from 'node:net';
import type { Knex } from 'knex';
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
 * The knex config of a MySQL/MariaDB store. Each new pooled connection goes to the host in use while
 * it accepts connections and, on Galera, is ready for queries (wsrep_ready); otherwise the next host
 * in the list becomes the one in use. A dead node's pooled connections are dropped by the driver's
 * error event; a node that stays up but leaves the cluster answers queries with WSREP errors, and the
 * connection that got one is dropped too (see dropConnectionsOnNodeErrors).
 */
export function mysqlConfig(parsed: MysqlUrl, cluster: ClusterInfo): Knex.Config {
  let active = 0;
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
  const rotateAwayFrom = (host: string | undefined, port: number | undefined) => {
    const i = parsed.hosts.findIndex((h) => h.host === host && h.port === port);
    if (i === active && parsed.hosts.length > 1) active = (active + 1) % parsed.hosts.length;
  };
  return {
    client: 'mysql2',
    connection:
      parsed.hosts.length === 1
        ? { ...base, ...parsed.hosts[0]! }
        : async () => {
            active = await firstReachable(parsed.hosts, active);
            // Asked again for every new connection, so a move to another host takes effect at once.
            return { ...base, ...parsed.hosts[active]!, expirationChecker: () => true };
          },
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
              if (!err3 && firstValue(ready) === 'ON') return done(null, conn);
              const h = hostOf(conn);
              rotateAwayFrom(h?.host, h?.port);
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

/**
 * A Galera node that left the primary component keeps its connections open and refuses every query
 * (ER_UNKNOWN_COM_ERROR 1047, "WSREP has not yet prepared node for application use"): mark the
 * connection that got such an answer as disposed, so the pool replaces it (through another host).
 */
export function dropConnectionsOnNodeErrors(knex: Knex): void {
  type Pooled = { __knexUid?: string; __knex__disposed?: unknown };
  const live = new Map<string, Pooled>();
  knex.client.pool?.on?.('createSuccess', (_id: unknown, resource: Pooled) => {
    if (resource.__knexUid) live.set(resource.__knexUid, resource);
  });
  knex.client.pool?.on?.('destroySuccess', (_id: unknown, resource: Pooled) => {
    if (resource.__knexUid) live.delete(resource.__knexUid);
  });
  knex.on('query-error', (err: { errno?: number }, obj: { __knexUid?: string }) => {
    if (err?.errno !== 1047 || !obj?.__knexUid) return;
    const conn = live.get(obj.__knexUid);
    if (conn) conn.__knex__disposed = err;
  });
}
