import type { Knex } from 'knex';

/**
 * Job secrets: their names, and their values sealed with a key the server keeps outside the
 * database (AES-256-GCM, see core/secret-box.ts). On the job's row, so they are stored in the
 * transaction that stores the job and deleted with it when its retention ends.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.text('secret_env_names').nullable();
    // MEDIUMTEXT on MySQL: sealed values grow by a third over the 64 KiB the API accepts.
    t.text('secret_env', 'mediumtext').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.dropColumn('secret_env');
    t.dropColumn('secret_env_names');
  });
}
