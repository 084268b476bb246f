import type { StoreName } from './stores.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { Summary } from './stats.js';

/** One measured line of a scenario. Latencies in ms; every figure is the median over `repeats` runs. */
export interface Row {
  scenario: string;
  system: string;
  store?: string;
  variant: string;
  params?: Record<string, number | string | boolean>;
  latency?: Record<string, Summary>;
  /** Percentiles 0..100 of the main latency (for the distribution chart). */
  cdf?: number[];
  jobsPerSecond?: number;
  /** Each repeat's jobs/s, so the spread can be seen. */
  runs?: number[];
  metrics?: Record<string, number | string | boolean | null>;
  note?: string;
}

export interface BenchContext {
  quick: boolean;
  repeats: number;
  /** How long each measured configuration first runs its own workload unmeasured (bench/lib/warm-up.ts); 0: none. */
  warmUpMs: number;
  /** The edge stores a scenario that measures several runs on (`--stores`); its own default when unset. */
  stores?: StoreName[];
  log(msg: string): void;
}

export interface Scenario {
  name: string;
  describe: string;
  run(ctx: BenchContext): Promise<Row[]>;
}

export interface Results {
  name: string;
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  repeats: number;
  /** Unmeasured warm-up per configuration, ms; absent in runs made before it existed (cold starts). */
  warmUpMs?: number;
  machine: Record<string, string | number>;
  scenarios: { name: string; describe: string; seconds: number; rows: Row[]; error?: string; loadAverage?: [number, number] }[];
}

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 5000 }).trim();
  } catch {
    return 'unknown';
  }
}

export function describeMachine(): Record<string, string | number> {
  const cpus = os.cpus();
  return {
    cpuModel: cpus[0]?.model ?? 'unknown',
    cpus: cpus.length,
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    mariadb: tryRun('mysql', ['-h127.0.0.1', '-uroot', '-N', '-e', 'SELECT VERSION()']),
    postgresql: tryRun('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-Atc', 'SHOW server_version']),
    redis: tryRun('redis-cli', ['-h', '127.0.0.1', 'INFO', 'server']).match(/redis_version:(\S+)/)?.[1] ?? 'unknown',
    bullmq: readVersion('bullmq'),
    graphileWorker: readVersion('graphile-worker'),
  };
}

function readVersion(pkg: string): string {
  try {
    return JSON.parse(fs.readFileSync(path.join('node_modules', pkg, 'package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
}

export function writeResults(dir: string, results: Results): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${results.name}.json`);
  fs.writeFileSync(file, JSON.stringify(results, null, 2) + '\n');
  return file;
}

/** Checks the shape of a results file; returns the problems found (none: well-formed). */
export function validateResults(r: unknown): string[] {
  const problems: string[] = [];
  const o = r as Partial<Results>;
  if (!o || typeof o !== 'object') return ['not an object'];
  for (const k of ['name', 'startedAt', 'finishedAt'] as const) if (typeof o[k] !== 'string') problems.push(`${k} is not a string`);
  if (typeof o.quick !== 'boolean') problems.push('quick is not a boolean');
  if (!o.machine || typeof o.machine.cpus !== 'number') problems.push('machine.cpus is missing');
  if (!Array.isArray(o.scenarios) || !o.scenarios.length) return [...problems, 'scenarios is empty'];
  for (const s of o.scenarios) {
    if (typeof s.name !== 'string' || !Array.isArray(s.rows)) problems.push(`scenario ${s.name}: malformed`);
    if (s.error) problems.push(`scenario ${s.name} failed: ${s.error.split('\n')[0]}`);
    for (const row of s.rows ?? []) {
      if (typeof row.system !== 'string' || typeof row.variant !== 'string') problems.push(`scenario ${s.name}: row without system/variant`);
      for (const [k, v] of Object.entries(row.latency ?? {})) if (typeof v?.p50 !== 'number') problems.push(`scenario ${s.name}: latency ${k} has no p50`);
      if (row.jobsPerSecond !== undefined && typeof row.jobsPerSecond !== 'number') problems.push(`scenario ${s.name}: jobsPerSecond not a number`);
    }
  }
  return problems;
}

const fmt = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? '' : v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));

/** The summary table: one line per row, latencies as p50/p95/p99/max. */
export function summaryTable(results: Results): string {
  const lines: string[] = [];
  for (const s of results.scenarios) {
    lines.push('', `## ${s.name} — ${s.describe} (${s.seconds.toFixed(0)} s${s.loadAverage ? `, load ${s.loadAverage.join('→')}` : ''})${s.error ? ` FAILED: ${s.error.split('\n')[0]}` : ''}`);
    const table: string[][] = [['system', 'store', 'variant', 'jobs/s', 'latency p50/p95/p99/max ms', 'other']];
    for (const r of s.rows) {
      const lat = Object.entries(r.latency ?? {})
        .map(([k, v]) => `${k} ${fmt(v.p50)}/${fmt(v.p95)}/${fmt(v.p99)}/${fmt(v.max)}`)
        .join('; ');
      const other = Object.entries(r.metrics ?? {})
        .map(([k, v]) => `${k}=${typeof v === 'number' ? fmt(v) : v}`)
        .join(' ');
      table.push([r.system, r.store ?? '', r.variant, fmt(r.jobsPerSecond), lat, other]);
    }
    const widths = table[0]!.map((_, i) => Math.min(70, Math.max(...table.map((t) => t[i]!.length))));
    for (const t of table) lines.push(t.map((c, i) => (i === t.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
  }
  return lines.join('\n');
}
