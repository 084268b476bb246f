import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/databases.js';
import { ROOT } from '../helpers/processes.js';
import { validateResults, type Results } from '../../bench/lib/results.js';

/**
 * The CI smoke run of the benchmarks, `npm run bench -- --quick`, split into groups of scenarios, one
 * test file each, so that mocha's parallel mode runs the groups side by side. Each group must finish
 * and write a well-formed results file and its charts. No timing is asserted: the numbers of a shared
 * CI machine mean nothing.
 */
export const GROUPS: Record<string, { scenarios: string[]; charts: string[] }> = {
  'latency-peers': { scenarios: ['latency', 'peers'], charts: ['latency', 'throughput-spawn', 'throughput-noop'] },
  throughput: { scenarios: ['throughput'], charts: ['throughput-spawn', 'throughput-noop'] },
  'fleet-workers-logs': { scenarios: ['fleet', 'worker-overhead', 'logs'], charts: [] },
  'web-pages': { scenarios: ['web-pages'], charts: [] },
};

/** The scenarios `bench/run.ts` knows, as its usage line lists them. */
export function knownScenarios(): string[] {
  const usage = execFileSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/run.ts'), '--help'], { cwd: ROOT, encoding: 'utf8' });
  return /--only ([\w,-]+)\]/.exec(usage)![1]!.split(',');
}

export function quickBench(group: string): void {
  const { scenarios, charts } = GROUPS[group]!;
  describe(`bench --quick --only ${scenarios.join(',')} (smoke)`, function () {
    this.timeout(10 * 60_000);
    let child: ChildProcess | undefined;
    // A test that timed out must not leave the bench, and the servers it started, running.
    const stop = () => void (child?.exitCode === null && child.signalCode === null && child.kill('SIGTERM'));
    after(stop);
    process.once('exit', stop);

    it('runs each scenario and writes a well-formed results file and charts', async () => {
      const out = tempDir('bench');
      const name = `ci-smoke-${group}`;
      let output = '';
      child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/run.ts'), '--quick', '--only', scenarios.join(','), '--name', name, '--out', out], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
      child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
      const started = child;
      const code = await new Promise<number | null>((resolve) => started.once('exit', (c) => resolve(c)));
      assert.equal(code, 0, `bench --quick exited ${code}:\n${output.slice(-4000)}`);

      const results = JSON.parse(fs.readFileSync(path.join(out, `${name}.json`), 'utf8')) as Results;
      assert.deepEqual(validateResults(results), []);
      assert.equal(results.quick, true);
      assert.deepEqual(results.scenarios.map((s) => s.name).sort(), [...scenarios].sort());
      for (const s of results.scenarios) assert.ok(s.rows.length > 0, `scenario ${s.name} has no rows`);
      for (const chart of charts) {
        const svg = fs.readFileSync(path.join(out, `${name}-${chart}.svg`), 'utf8');
        assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
        assert.match(svg, /<path d="M/, `chart ${chart} draws no line`);
      }
      for (const s of scenarios) assert.match(output, new RegExp(`## ${s} `), `the summary table of ${s} is printed`);
    });
  });
}
