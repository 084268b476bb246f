import type { Knex } from 'knex';
import * as m0001 from './0001-initial.js';
import * as m0002 from './0002-job-events.js';

interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** Append-only, in order. Listed here rather than globbed so the build carries them. */
const migrations: Migration[] = [
  { name: '0001-initial', ...m0001 },
  { name: '0002-job-events', ...m0002 },
];

export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => migrations,
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m,
};
