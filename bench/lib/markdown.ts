/** Markdown tables of a results file (for docs/performance.md), with ratios to the peers and a before/after view. */
import type { Results, Row } from './results.js';
import type { Summary } from './stats.js';

const f = (v: number | undefined | null) => (v === undefined || v === null || !Number.isFinite(v) ? '–' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const lat = (s?: Summary) => (s ? `${f(s.p50)} / ${f(s.p95)} / ${f(s.p99)} / ${f(s.max)}` : '–');
const rows = (r: Results, name: string): Row[] => r.scenarios.find((s) => s.name === name)?.rows ?? [];
const table = (head: string[], body: string[][]) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...body.map((b) => `| ${b.join(' | ')} |`)].join('\n');

export function markdown(r: Results): string {
  const out: string[] = [];
  const warm = r.warmUpMs ? `each configuration first ran its own workload unmeasured for ${r.warmUpMs >= 1000 ? `${r.warmUpMs / 1000} s` : `${r.warmUpMs} ms (one round)`} (cold: that warm-up's first round)` : 'measured from a cold start (no warm-up)';
  out.push(`Run \`${r.name}\`: ${r.startedAt} → ${r.finishedAt}, ${r.repeats} repeat(s), figures are medians over repeats; ${warm}.`);
  out.push('', '### Dispatch latency, idle workers (ms: p50 / p95 / p99 / max)', '');
  const latRows = [...rows(r, 'latency'), ...rows(r, 'peers').filter((x) => x.latency?.received && !x.jobsPerSecond)];
  out.push(
    table(
      ['system', 'store', 'variant', 'submit → received', 'submit → RUNNING', 'submit → end'],
      latRows.map((x) => [x.system, x.store ?? '', x.variant, lat(x.latency?.received), lat(x.latency?.running), lat(x.latency?.succeeded ?? x.latency?.finished)]),
    ),
  );
  out.push('', '### Throughput (jobs/s, median of the repeats in the last column)', '');
  const tp = [...rows(r, 'throughput'), ...rows(r, 'peers').filter((x) => x.jobsPerSecond !== undefined)];
  out.push(
    table(
      ['system', 'store', 'workload', 'workers × conc.', 'submission', 'jobs/s', 'repeats', 'cold (first round)', 'CPU ms/job: server', 'workers (own)', 'job processes'],
      tp.map((x) => [
        x.system,
        x.store ?? '',
        String(x.params?.workload),
        `${x.params?.workers} × ${x.params?.concurrency}`,
        String(x.params?.mode),
        f(x.jobsPerSecond),
        (x.runs ?? []).map((v) => f(v)).join(', '),
        f(x.metrics?.coldJobsPerSecond as number | undefined),
        f(x.metrics?.serverCpuMsPerJob as number | undefined),
        x.metrics?.simCpuMsPerJob !== undefined ? `${f(x.metrics.simCpuMsPerJob as number)} (simulated)` : f(x.metrics?.workerCpuMsPerJob as number | undefined),
        f(x.metrics?.jobProcessCpuMsPerJob as number | undefined),
      ]),
    ),
  );
  out.push('', '### Edge against the peers (same run, same machine, same workload and fleet)', '');
  const ratioRows: string[][] = [];
  for (const e of rows(r, 'throughput')) {
    for (const peer of ['bullmq', 'graphile-worker']) {
      const p = rows(r, 'peers').find((x) => x.system === peer && x.params?.workload === e.params?.workload && x.params?.workers === e.params?.workers && x.params?.mode === e.params?.mode);
      if (!p?.jobsPerSecond || !e.jobsPerSecond) continue;
      const ec = e.metrics?.coldJobsPerSecond as number | undefined;
      const pc = p.metrics?.coldJobsPerSecond as number | undefined;
      const cold = ec && pc ? `${f(ec)} / ${f(pc)} = ${f(ec / pc)}×` : '–';
      ratioRows.push([`edge ${e.store}`, peer, String(e.params?.workload), `${e.params?.workers} × ${e.params?.concurrency}`, String(e.params?.mode), f(e.jobsPerSecond), f(p.jobsPerSecond), `${f(e.jobsPerSecond / p.jobsPerSecond)}×`, cold]);
    }
  }
  out.push(table(['edge', 'peer', 'workload', 'workers', 'submission', 'edge jobs/s', 'peer jobs/s', 'edge / peer', 'cold (first round): edge / peer'], ratioRows));
  const edgeIdle = rows(r, 'latency').filter((x) => x.variant.startsWith('same replica, control'));
  const peerIdle = rows(r, 'peers').filter((x) => x.latency?.received && !x.jobsPerSecond && x.variant.includes('no-op'));
  const latRatio: string[][] = [];
  for (const e of edgeIdle) for (const p of peerIdle) latRatio.push([`edge ${e.store}`, p.system, `${f(e.latency!.received!.p50)} / ${f(e.latency!.received!.p99)}`, `${f(p.latency!.received!.p50)} / ${f(p.latency!.received!.p99)}`, `${f(e.latency!.received!.p50 / p.latency!.received!.p50)}× / ${f(e.latency!.received!.p99 / p.latency!.received!.p99)}×`]);
  out.push('', table(['edge', 'peer (no-op handler)', 'edge submit→received p50 / p99 ms', 'peer enqueue→handler p50 / p99 ms', 'edge / peer (lower is better)'], latRatio));
  out.push('', '### Fleet scale (MariaDB; one server, two replicas above 10,000)', '');
  out.push(
    table(
      ['workers', 'replicas', 'server RSS MiB peak (idle)', 'memory per worker KiB', 'server CPU %', 'heartbeats/s', 'heartbeat p50 / p99 / max ms', 'submit→received p50 / p99 ms', 'DB statements/s', 'notes'],
      rows(r, 'fleet').map((x) => {
        const m = x.metrics ?? {};
        const hb = x.latency?.heartbeat;
        const d = x.latency?.['submit→received'];
        return [
          String(x.params?.workers),
          String(x.params?.replicas ?? 1),
          m.failed ? '–' : `${f(m.serverRssMiB as number)} (${f(m.serverRssIdleMiB as number)})`,
          m.memoryPerWorkerKiB === undefined ? '–' : f(m.memoryPerWorkerKiB as number),
          f(m.serverCpuPercent as number),
          f(m.heartbeatsPerSecond as number),
          hb ? `${f(hb.p50)} / ${f(hb.p99)} / ${f(hb.max)}` : '–',
          d ? `${f(d.p50)} / ${f(d.p99)}` : '–',
          m.dbStatementsPerSecond === undefined ? '–' : f(m.dbStatementsPerSecond as number),
          m.failed ? `failed: ${m.failed}` : `pool ${x.params?.dbPool ?? 10}; ${m.jobsReceived}/${m.jobsSent} jobs received, ${m.submitErrors ?? 0} submits refused, ${m.heartbeatErrors} heartbeat errors, connected in ${m.connectSeconds} s`,
        ];
      }),
    ),
  );
  const after = rows(r, 'fleet').filter((x) => x.metrics?.restartAllBackS !== undefined);
  if (after.length) {
    out.push('', 'Loss and restart (at 10,000 workers):', '');
    out.push(
      table(
        ['workers', 'silenced workers found lost', 'latest, s after its last heartbeat (timeout)', 'restart: listening again s', 'every worker back s', 'jobs acknowledged / lost / received twice', 'submits refused while down', 'streams told Unavailable', 'DB threads running max'],
        after.map((x) => {
          const m = x.metrics!;
          return [
            String(x.params?.workers),
            String(m.lossFound),
            `${f(m.lossDetectedMaxS as number)} (${f(m.workerTimeoutS as number)})`,
            f(m.restartListeningS as number),
            `${f(m.restartAllBackS as number)} (${m.restartWorkersBack})`,
            `${m.restartJobsAcknowledged} / ${m.restartJobsLost} / ${m.restartJobsTwice}`,
            f(m.restartSubmitsRefused as number),
            f(m.restartStreamUnavailable as number),
            f(m.restartDbThreadsRunningMax as number),
          ];
        }),
      ),
    );
  }
  out.push('', '### Worker overhead', '');
  out.push(
    table(
      ['running jobs', 'worker RSS idle MiB', 'worker RSS holding them MiB (peak)', 'growth per job MiB', 'whole worker RSS / jobs MiB', 'CPU % idle → busy'],
      rows(r, 'worker-overhead').map((x) => {
        const m = x.metrics ?? {};
        return [String(x.params?.jobs), f(m.idleRssMiB as number), `${f(m.busyRssMiB as number)} (${f(m.busyRssMaxMiB as number)})`, f(m.perJobMiB as number), f(m.totalPerJobMiB as number), `${f(m.idleCpuPercent as number)} → ${f(m.busyCpuPercent as number)}`];
      }),
    ),
  );
  out.push('', '### Logs', '');
  out.push(
    table(
      ['store', 'measure', 'result'],
      rows(r, 'logs').map((x) => [x.store ?? '', x.variant, x.metrics ? `${f(x.metrics.mbPerSecond as number)} MB/s (${f(x.metrics.storedMiB as number)} MiB in ${f(x.metrics.seconds as number)} s)` : `p50 / p95 / p99 / max ${lat(Object.values(x.latency ?? {})[0])} ms`]),
    ),
  );
  return out.join('\n') + '\n';
}

/** Before/after of the rows both runs measured (same scenario, system, store, variant). */
export function compare(before: Results, after: Results): string {
  const key = (s: string, x: Row) => `${s}|${x.system}|${x.store}|${x.variant}|${x.params?.workers ?? ''}`;
  const old = new Map<string, Row>();
  for (const s of before.scenarios) for (const x of s.rows) old.set(key(s.name, x), x);
  const body: string[][] = [];
  for (const s of after.scenarios) {
    for (const x of s.rows) {
      const b = old.get(key(s.name, x));
      if (!b || x.system !== 'edge') continue;
      const what = `${s.name}: ${x.store} ${x.variant}${x.params?.workers ? `, W=${x.params.workers}` : ''}`;
      if (x.jobsPerSecond !== undefined) body.push([what, 'jobs/s', f(b.jobsPerSecond), f(x.jobsPerSecond)]);
      for (const k of ['serverCpuMsPerJob', 'workerCpuMsPerJob']) {
        const a = x.metrics?.[k];
        const o = b.metrics?.[k];
        if (typeof a === 'number' && typeof o === 'number') body.push([what, `${k === 'serverCpuMsPerJob' ? 'server' : 'worker'} CPU ms/job`, f(o), f(a)]);
      }
      for (const k of ['received', 'submit→received', 'heartbeat']) {
        const a = x.latency?.[k];
        const o = b.latency?.[k];
        if (a && o) body.push([what, `${k} p50 / p99 ms`, `${f(o.p50)} / ${f(o.p99)}`, `${f(a.p50)} / ${f(a.p99)}`]);
      }
      if (s.name === 'fleet' && x.metrics && b.metrics) body.push([what, 'server CPU % / RSS MiB', `${f(b.metrics.serverCpuPercent as number)} / ${f(b.metrics.serverRssMiB as number)}`, `${f(x.metrics.serverCpuPercent as number)} / ${f(x.metrics.serverRssMiB as number)}`]);
    }
  }
  return table(['measure', 'figure', `before (${before.name})`, `after (${after.name})`], body) + '\n';
}
