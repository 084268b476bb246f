import type { JobSpecRecord } from '../../server/domain/records.js';

/** A job spec for store tests: `true` on the default queue, with the given fields changed. */
export const spec = (over: Partial<JobSpecRecord> = {}): JobSpecRecord => ({
  queue: 'default',
  argv: ['true'],
  env: {},
  cwd: '',
  slots: 1,
  priority: 0,
  timeoutSeconds: 0,
  maxAttempts: 1,
  labels: {},
  ...over,
});
