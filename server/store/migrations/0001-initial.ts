import type { Knex } from 'knex';

/** Workers, jobs, their attempts and their log chunks. Times are epoch milliseconds of the server. */
export async function up(knex: Knex): Promise<void> {
  const mysql = knex.client.config.client === 'mysql2';

  await knex.schema.createTable('workers', (t) => {
    t.string('name', 128).primary();
    t.string('state', 32).notNullable();
    t.text('queues').notNullable();
    t.integer('concurrency').notNullable();
    t.string('version', 64).notNullable();
    t.bigInteger('first_online_at').notNullable();
    t.bigInteger('last_heartbeat_at').notNullable();
    t.bigInteger('updated_at').notNullable();
  });

  await knex.schema.createTable('jobs', (t) => {
    t.string('id', 36).primary();
    t.string('queue', 256).notNullable();
    t.text('argv', 'mediumtext').notNullable();
    t.text('env', 'mediumtext').notNullable();
    t.text('cwd').notNullable();
    t.integer('slots').notNullable();
    t.integer('priority').notNullable();
    t.integer('timeout_seconds').notNullable();
    t.integer('max_attempts').notNullable();
    t.text('labels', 'mediumtext').notNullable();
    t.string('state', 16).notNullable();
    t.string('worker_name', 128).nullable();
    t.integer('attempt').notNullable().defaultTo(0);
    t.integer('exit_code').nullable();
    t.string('signal', 32).nullable();
    t.text('reason').notNullable();
    t.boolean('cancel_requested').notNullable().defaultTo(false);
    t.bigInteger('created_at').notNullable();
    t.bigInteger('started_at').nullable();
    t.bigInteger('ended_at').nullable();
    t.bigInteger('updated_at').notNullable();
    t.index(['worker_name', 'state'], 'jobs_worker_idx');
  });
  // The claim reads the QUEUED jobs of one queue in (priority desc, id) order. An index in exactly
  // that order lets MySQL stop after LIMIT rows; any sort step would make FOR UPDATE lock every
  // queued row of the queue and leave other claimers nothing to take.
  await knex.raw('CREATE INDEX jobs_claim_idx ON jobs (state, queue, priority DESC, id)');

  await knex.schema.createTable('job_attempts', (t) => {
    t.string('job_id', 36).notNullable();
    t.integer('attempt').notNullable();
    t.string('worker_name', 128).notNullable();
    t.string('state', 16).notNullable();
    t.bigInteger('assigned_at').notNullable();
    t.bigInteger('started_at').nullable();
    t.bigInteger('ended_at').nullable();
    t.integer('exit_code').nullable();
    t.string('signal', 32).nullable();
    t.text('reason').notNullable();
    t.bigInteger('log_size').notNullable().defaultTo(0);
    t.primary(['job_id', 'attempt']);
  });

  await knex.schema.createTable('log_chunks', (t) => {
    t.string('job_id', 36).notNullable();
    t.integer('attempt').notNullable();
    t.bigInteger('start_offset').notNullable();
    t.integer('byte_count').notNullable();
    if (mysql) t.specificType('data', 'MEDIUMBLOB').notNullable();
    else t.binary('data').notNullable();
    t.primary(['job_id', 'attempt', 'start_offset']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['log_chunks', 'job_attempts', 'jobs', 'workers']) {
    await knex.schema.dropTableIfExists(table);
  }
}
