/**
 * `npm run bench [-- --quick] [--only a,b] [--name NAME] [--repeats N] [--charts DIR]`
 *
 * Runs the scenarios one after the other on this machine, writes `bench/results/<name>.json`, prints a
 * summary table, and draws the charts (SVG) from the results next to the JSON (or into --charts DIR).
 * `--quick` is the CI smoke run: small sizes, one repeat, no timing assertions anywhere.
 * Every scenario makes and drops its own databases and Redis keys and ends every process it starts.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR } from './lib/children.js';
import { describeMachine, summaryTable, writeResults, type BenchContext, type Results, type Scenario } from './lib/results.js';
import { compare, markdown } from './lib/markdown.js';
import { fleetChart, latencyChart, throughputChart } from './lib/svg.js';
import { fleet } from './scenarios/fleet.js';
import { latency } from './scenarios/latency.js';
import { logs } from './scenarios/logs.js';
import { peers } from './scenarios/peers.js';
import { throughput } from './scenarios/throughput.js';
import { STORE_NAMES, type StoreName } from './lib/stores.js';
import { webPages } from './scenarios/web-pages.js';
import { workerOverhead } from './scenarios/worker-overhead.js';

const SCENARIOS: Scenario[] = [latency, throughput, peers, fleet, workerOverhead, logs, webPages];
/** A full run's warm-up per configuration: the edge server reached its steady CPU per job after about 12,000 control-plane jobs, 5–6 s here. */
const FULL_WARM_UP_MS = 8000;

function nonNegative(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${flag} takes a number of milliseconds (0 or more), not "${value}"`);
  return n;
}

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    stores: { type: 'string' },
    name: { type: 'string' },
    repeats: { type: 'string' },
    'warm-up-ms': { type: 'string' },
    out: { type: 'string', default: path.join(BENCH_DIR, 'results') },
    charts: { type: 'string' },
    'from-results': { type: 'string' },
    markdown: { type: 'boolean', default: false },
    compare: { type: 'string' },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

if (values.help) {
  process.stdout.write(
    `usage: npm run bench -- [--quick] [--only ${SCENARIOS.map((s) => s.name).join(',')}] [--name NAME] [--repeats N] [--out DIR] [--charts DIR]\n` +
      `         [--warm-up-ms MS] (each configuration's unmeasured warm-up; default ${FULL_WARM_UP_MS}, 0 = measure from a cold start)\n` +
      `         [--stores sqlite,mariadb,galera] (throughput's stores; galera starts a three-node cluster, as root)\n` +
      `       npm run bench -- --from-results FILE [--charts DIR] [--markdown] [--compare BEFORE.json]\n` +
      `         (table, charts and Markdown tables of an earlier run; before/after against another run)\n`,
  );
  process.exit(0);
}

function drawCharts(results: Results, dir: string, prefix: string): string[] {
  fs.mkdirSync(dir, { recursive: true });
  const files: [string, string][] = [
    [`${prefix}latency.svg`, latencyChart(results)],
    [`${prefix}throughput-spawn.svg`, throughputChart(results, 'spawn')],
    [`${prefix}throughput-noop.svg`, throughputChart(results, 'noop')],
    ...(results.scenarios.some((s) => s.name === 'fleet') ? ([[`${prefix}fleet.svg`, fleetChart(results)]] as [string, string][]) : []),
  ];
  return files.map(([f, svg]) => {
    const file = path.join(dir, f);
    fs.writeFileSync(file, svg);
    return file;
  });
}

async function main(): Promise<number> {
  if (values['from-results']) {
    const results = JSON.parse(fs.readFileSync(values['from-results'], 'utf8')) as Results;
    if (values.markdown) {
      process.stdout.write(markdown(results));
      if (values.compare) process.stdout.write('\n' + compare(JSON.parse(fs.readFileSync(values.compare, 'utf8')) as Results, results));
      return 0;
    }
    process.stdout.write(summaryTable(results) + '\n');
    for (const f of drawCharts(results, values.charts ?? path.dirname(values['from-results']), `${results.name}-`)) console.log(`chart: ${f}`);
    return 0;
  }
  const quick = values.quick;
  const only = values.only?.split(',').map((s) => s.trim());
  const unknown = only?.filter((n) => !SCENARIOS.some((s) => s.name === n));
  if (unknown?.length) throw new Error(`unknown scenario(s) ${unknown.join(', ')}; known: ${SCENARIOS.map((s) => s.name).join(', ')}`);
  const startedAt = new Date();
  const name = values.name ?? `${quick ? 'quick' : 'full'}-${startedAt.toISOString().replace(/[:.]/g, '-').slice(0, 19)}`;
  const stores = values.stores?.split(',').map((s) => s.trim()) as StoreName[] | undefined;
  const badStore = stores?.find((s) => !STORE_NAMES.includes(s));
  if (badStore) throw new Error(`unknown store ${badStore}; known: ${STORE_NAMES.join(', ')}`);
  const ctx: BenchContext = {
    quick,
    stores,
    repeats: values.repeats ? Number(values.repeats) : quick ? 1 : 3,
    // --quick: one warm-up round per configuration, so that the smoke run goes through it.
    warmUpMs: values['warm-up-ms'] !== undefined ? nonNegative(values['warm-up-ms'], '--warm-up-ms') : quick ? 1 : FULL_WARM_UP_MS,
    log: (msg) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`),
  };
  const results: Results = {
    name,
    startedAt: startedAt.toISOString(),
    finishedAt: '',
    quick,
    repeats: ctx.repeats,
    warmUpMs: ctx.warmUpMs,
    machine: describeMachine(),
    scenarios: [],
  };
  let failed = false;
  for (const s of SCENARIOS.filter((sc) => !only || only.includes(sc.name))) {
    ctx.log(`scenario ${s.name}: ${s.describe}`);
    const t0 = performance.now();
    const load0 = os.loadavg()[0]!;
    try {
      const rows = await s.run(ctx);
      results.scenarios.push({ name: s.name, describe: s.describe, seconds: (performance.now() - t0) / 1000, rows, ...loadNote(load0) });
    } catch (err) {
      failed = true;
      ctx.log(`scenario ${s.name} failed: ${(err as Error).stack}`);
      results.scenarios.push({ name: s.name, describe: s.describe, seconds: (performance.now() - t0) / 1000, rows: [], error: String((err as Error).stack ?? err) });
    }
    results.finishedAt = new Date().toISOString();
    writeResults(values.out, results); // after every scenario, so a long run keeps what it measured
  }
  const file = writeResults(values.out, results);
  process.stdout.write(summaryTable(results) + '\n\n');
  console.log(`results: ${file}`);
  for (const f of drawCharts(results, values.charts ?? values.out, `${name}-`)) console.log(`chart: ${f}`);
  return failed ? 1 : 0;
}

/** The machine is shared: the 1-minute load average before and after tells how quiet it was. */
function loadNote(before: number): { loadAverage: [number, number] } {
  return { loadAverage: [Math.round(before * 100) / 100, Math.round(os.loadavg()[0]! * 100) / 100] };
}

// Interrupted: exit normally, so that every process the bench started is ended on the way out.
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130));

main().then(
  (code) => process.exit(code),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
