import type { Knex } from 'knex';

/**
 * Credentials: tokens (admin, worker, registration) stored as keyed hashes, never their values; the
 * settings row that holds the hashing key, shared by every replica of one database; the team of
 * jobs and workers ('' for none).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('auth_tokens', (t) => {
    t.string('id', 36).primary();
    t.string('kind', 16).notNullable();
    t.string('name', 128).notNullable();
    t.string('team', 64).notNullable().defaultTo('');
    t.string('worker_name', 128).nullable();
    t.string('hash', 64).notNullable().unique('auth_tokens_hash_idx');
    t.bigInteger('created_at').notNullable();
    t.bigInteger('revoked_at').nullable();
    t.index(['worker_name'], 'auth_tokens_worker_idx');
  });
  await knex.schema.createTable('auth_settings', (t) => {
    t.string('name', 64).primary();
    t.string('value', 256).notNullable();
  });
  await knex.schema.alterTable('jobs', (t) => {
    t.string('team', 64).notNullable().defaultTo('');
  });
  await knex.schema.alterTable('workers', (t) => {
    t.string('team', 64).notNullable().defaultTo('');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('workers', (t) => t.dropColumn('team'));
  await knex.schema.alterTable('jobs', (t) => t.dropColumn('team'));
  await knex.schema.dropTable('auth_settings');
  await knex.schema.dropTable('auth_tokens');
}
