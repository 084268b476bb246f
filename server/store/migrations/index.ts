import type { Knex } from 'knex';
import * as m0001 from './0001-initial.js';
import * as m0004 from './0004-worker-operations.js';

interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** Append-only, in order. Listed here rather than globbed so the build carries them. */
const migrations: Migration[] = [
  { name: '0001-initial', ...m0001 },
  { name: '0004-worker-operations', ...m0004 },
];

export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => migrations,
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m,
};
