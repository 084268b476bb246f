import type { Knex } from 'knex';

/**
 * Sessions of the web pages: a random id in the browser's cookie, kept here only as a keyed hash,
 * bound to the admin token that signed in (by that token's hash, so revoking the token ends them).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('web_sessions', (t) => {
    t.string('hash', 64).primary();
    t.string('token_hash', 64).notNullable();
    t.bigInteger('created_at').notNullable();
    t.bigInteger('expires_at').notNullable();
    t.bigInteger('revoked_at').nullable();
    t.index(['expires_at'], 'web_sessions_expires_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTable('web_sessions');
}
