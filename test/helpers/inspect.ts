import knexFactory, { type Knex } from 'knex';

/**
 * Read-only access to a test database, to check invariants from what the server recorded (attempts,
 * times). Tests only: the CLI and workers reach the system through the API.
 */
export function inspectDatabase(url: string): Knex {
  if (url.startsWith('sqlite:')) {
    return knexFactory({ client: 'better-sqlite3', connection: { filename: url.slice('sqlite:'.length), options: { readonly: true } }, useNullAsDefault: true });
  }
  const u = new URL(url);
  return knexFactory({
    client: 'mysql2',
    connection: { host: u.hostname, port: Number(u.port || 3306), user: decodeURIComponent(u.username), password: decodeURIComponent(u.password), database: u.pathname.slice(1) },
    pool: { min: 0, max: 2 },
  });
}

export interface AttemptRow {
  job_id: string;
  attempt: number;
  worker_name: string;
  state: string;
  assigned_at: number;
  ended_at: number | null;
  slots: number;
}

/** For each worker, the most slots its held attempts ever summed to, from the recorded intervals. */
export function peakSlotsByWorker(attempts: AttemptRow[]): Map<string, number> {
  const byWorker = new Map<string, { t: number; d: number }[]>();
  for (const a of attempts) {
    const points = byWorker.get(a.worker_name) ?? [];
    points.push({ t: Number(a.assigned_at), d: Number(a.slots) });
    points.push({ t: a.ended_at === null ? Infinity : Number(a.ended_at), d: -Number(a.slots) });
    byWorker.set(a.worker_name, points);
  }
  const peaks = new Map<string, number>();
  for (const [worker, points] of byWorker) {
    // At equal times a release comes before a claim: the claim read the released slots.
    points.sort((x, y) => x.t - y.t || x.d - y.d);
    let used = 0;
    let peak = 0;
    for (const p of points) {
      used += p.d;
      peak = Math.max(peak, used);
    }
    peaks.set(worker, peak);
  }
  return peaks;
}

export async function attemptsWithSlots(db: Knex): Promise<AttemptRow[]> {
  return (await db('job_attempts as a')
    .join('jobs as j', 'j.id', 'a.job_id')
    .select('a.job_id', 'a.attempt', 'a.worker_name', 'a.state', 'a.assigned_at', 'a.ended_at', 'j.slots')) as AttemptRow[];
}
