import type { Knex } from 'knex';

/**
 * The change log's number counter, used on Galera clusters (where AUTO_INCREMENT leaves gaps that
 * never fill): one row holding the last number taken. See takeNumbers in job-events.ts.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('job_event_seq', (t) => {
    t.integer('id').primary();
    t.bigInteger('last').notNullable();
  });
  const row = await knex('job_events').max({ seq: 'seq' }).first();
  await knex('job_event_seq').insert({ id: 1, last: Number(row?.seq ?? 0) });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('job_event_seq');
}
