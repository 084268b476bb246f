import { TEST_ADMIN_TOKEN } from '../../test/helpers/credentials.js';

/** Cumulative counts of one histogram of a server's /metrics, by bucket upper bound (seconds). */
export type Buckets = Map<number, number>;

/** The buckets of `edge_rpc_duration_seconds` for one method, as one server's /metrics shows them now. */
export async function rpcBuckets(serverUrl: string, method: string): Promise<Buckets> {
  const body = await (await fetch(`${serverUrl}/metrics`, { headers: { authorization: `Bearer ${TEST_ADMIN_TOKEN}` } })).text();
  const out: Buckets = new Map();
  for (const line of body.split('\n')) {
    if (!line.startsWith('edge_rpc_duration_seconds_bucket{') || !line.includes(`method="${method}"`)) continue;
    const le = /le="([^"]+)"/.exec(line)![1]!;
    out.set(le === '+Inf' ? Infinity : Number(le), Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return out;
}

/**
 * The q-quantile (0..1) of what was observed between two readings of the same histograms (summed over
 * servers), in ms: the upper bound of the bucket it falls in (a bound, not an exact figure).
 */
export function quantileBetween(before: Buckets[], after: Buckets[], q: number): number {
  const bounds = [...new Set(after.flatMap((b) => [...b.keys()]))].sort((a, b) => a - b);
  const counts = bounds.map((le) => after.reduce((a, b, i) => a + (b.get(le) ?? 0) - (before[i]?.get(le) ?? 0), 0));
  const total = counts[counts.length - 1] ?? 0;
  if (!total) return NaN;
  const i = counts.findIndex((c) => c >= q * total);
  return bounds[i]! * 1000;
}
