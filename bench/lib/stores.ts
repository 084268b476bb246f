import { randomBytes } from 'node:crypto';
import type { Knex } from 'knex';
import pg from 'pg';
import { Redis } from 'ioredis';
import { createMariaDbDatabase, createSqliteDatabase, type TestDatabase } from '../../test/helpers/databases.js';
import { GaleraCluster } from '../../test/helpers/galera-cluster.js';
import { openStore } from '../../server/store/open-store.js';
import type { KnexStore } from '../../server/store/knex-store.js';

/** `galera`: a three-node MariaDB Galera cluster of its own on this machine (scripts/galera-local.sh). */
export type StoreName = 'sqlite' | 'mariadb' | 'galera';
export const STORE_NAMES: StoreName[] = ['sqlite', 'mariadb', 'galera'];

export function createEdgeDatabase(store: StoreName): Promise<TestDatabase> {
  if (store === 'galera') return createGaleraDatabase();
  return store === 'sqlite' ? createSqliteDatabase() : createMariaDbDatabase();
}

/** A fresh cluster, removed by drop(); its URL lists the three nodes, node1 first (the one written through). */
async function createGaleraDatabase(): Promise<TestDatabase> {
  const cluster = await GaleraCluster.start();
  return { url: cluster.url(1, 2, 3), drop: () => cluster.stop() };
}

/** A second connection to the server's database, used by the bench only to read job timestamps. */
export function openReader(url: string): Knex {
  return (openStore(url) as KnexStore).knex;
}

export const PG_ADMIN = 'postgres://postgres@127.0.0.1:5432/test';
export const REDIS = { host: '127.0.0.1', port: 6379 };

/** A throw-away PostgreSQL database for graphile-worker, created from the `test` database. */
export async function createPgDatabase(): Promise<TestDatabase> {
  const name = `edge_bench_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  return {
    url: `postgres://postgres@127.0.0.1:5432/${name}`,
    async drop() {
      const c = new pg.Client({ connectionString: PG_ADMIN });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

/** A Redis key prefix for one BullMQ run; drop() deletes every key under it. */
export function redisPrefix(): { prefix: string; drop(): Promise<void> } {
  const prefix = `edge-bench-${randomBytes(5).toString('hex')}`;
  return {
    prefix,
    async drop() {
      const r = new Redis(REDIS);
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await r.del(...keys);
      } while (cursor !== '0');
      r.disconnect();
    },
  };
}
