import type { Knex } from 'knex';

/**
 * Claims read only released jobs: `not_before = 0`. A retry waiting out its backoff keeps its
 * `not_before` until a sweep releases it (releaseDueJobs in jobs.ts), so it sits in its own part of
 * the claim index instead of in front of the due jobs. Before, every claim stepped over every
 * waiting retry of its queue: on SQLite 1.4 ms per claim behind 10,000 of them, 10 ms behind 100,000.
 * The same order as before after the equalities (see 0001), so reads still stop after LIMIT rows.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => t.dropIndex([], 'jobs_claim_idx'));
  await knex.raw('CREATE INDEX jobs_claim_idx ON jobs (state, queue, not_before, priority DESC, id)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.schema.alterTable('jobs', (t) => t.dropIndex([], 'jobs_claim_idx'));
  await knex.raw('CREATE INDEX jobs_claim_idx ON jobs (state, queue, priority DESC, id)');
}
