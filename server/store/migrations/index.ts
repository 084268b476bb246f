import type { Knex } from 'knex';
import * as m0001 from './0001-initial.js';
import * as m0002 from './0002-job-events.js';
import * as m0003 from './0003-recovery.js';
import * as m0004 from './0004-worker-operations.js';
import * as m0005 from './0005-credentials.js';
import * as m0006 from './0006-web-sessions.js';
import * as m0007 from './0007-job-secrets.js';
import * as m0008 from './0008-job-event-counter.js';
import * as m0009 from './0009-claim-index-reach.js';

interface Migration {
  name: string;
  up(knex: Knex): Promise<void>;
  down(knex: Knex): Promise<void>;
}

/** Append-only, in order. Listed here rather than globbed so the build carries them. */
const migrations: Migration[] = [
  { name: '0001-initial', ...m0001 },
  { name: '0002-job-events', ...m0002 },
  { name: '0003-recovery', ...m0003 },
  { name: '0004-worker-operations', ...m0004 },
  { name: '0005-credentials', ...m0005 },
  { name: '0006-web-sessions', ...m0006 },
  { name: '0007-job-secrets', ...m0007 },
  { name: '0008-job-event-counter', ...m0008 },
  { name: '0009-claim-index-reach', ...m0009 },
];

export const migrationSource: Knex.MigrationSource<Migration> = {
  getMigrations: async () => migrations,
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m,
};
