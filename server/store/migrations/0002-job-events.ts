import type { Knex } from 'knex';

/**
 * The change log of job states: one row per change, written in the transaction that makes it.
 * Watch streams read it from a cursor; server replicas read it to wake each other's workers.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('job_events', (t) => {
    t.bigIncrements('seq').primary();
    t.string('job_id', 36).notNullable();
    t.string('queue', 256).notNullable();
    // 'state': the job entered `state`; 'cancel': a cancel was requested for the attempt its worker holds;
    // 'worker': an operator changed the worker `worker_name` (job fields empty).
    t.string('kind', 16).notNullable();
    t.string('state', 16).notNullable();
    t.integer('attempt').notNullable();
    t.string('worker_name', 128).nullable();
    t.integer('exit_code').nullable();
    t.string('signal', 32).nullable();
    t.text('reason').notNullable();
    t.bigInteger('at').notNullable();
    t.index(['job_id'], 'job_events_job_idx');
  });
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.dropTableIfExists('job_events');
}
