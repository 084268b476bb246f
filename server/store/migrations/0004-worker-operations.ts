import type { Knex } from 'knex';

/**
 * What operators want of a worker (maintenance with its comment, shutdown) and how its machine
 * stands (system info as JSON, the start of its current process).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('workers', (t) => {
    t.boolean('maintenance').notNullable().defaultTo(false);
    t.text('maintenance_comment').nullable();
    t.string('maintenance_author', 128).nullable();
    t.bigInteger('maintenance_comment_at').nullable();
    t.boolean('shutdown_requested').notNullable().defaultTo(false);
    t.text('system_info').nullable();
    t.bigInteger('started_at').nullable();
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('workers', (t) => {
    t.dropColumns('maintenance', 'maintenance_comment', 'maintenance_author', 'maintenance_comment_at', 'shutdown_requested', 'system_info', 'started_at');
  });
}
