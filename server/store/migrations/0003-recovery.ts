import type { Knex } from 'knex';

/**
 * Retries and housekeeping: when a requeued job may run again (retry backoff), when it last entered
 * the queue (queued timeout), and indexes for the periodic sweeps (lost work, expiry, retention).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => {
    t.bigInteger('not_before').notNullable().defaultTo(0);
    t.bigInteger('queued_at').nullable();
    t.index(['state', 'queued_at'], 'jobs_queued_at_idx');
    t.index(['state', 'ended_at'], 'jobs_ended_at_idx');
  });
  await knex('jobs').update({ queued_at: knex.ref('created_at') });
  await knex.schema.alterTable('job_events', (t) => {
    t.index(['at'], 'job_events_at_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('job_events', (t) => t.dropIndex(['at'], 'job_events_at_idx'));
  await knex.schema.alterTable('jobs', (t) => {
    t.dropIndex(['state', 'ended_at'], 'jobs_ended_at_idx');
    t.dropIndex(['state', 'queued_at'], 'jobs_queued_at_idx');
    t.dropColumn('queued_at');
    t.dropColumn('not_before');
  });
}
