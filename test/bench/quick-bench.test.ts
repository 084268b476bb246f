import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from '../helpers/databases.js';
import { ROOT } from '../helpers/processes.js';
import { validateResults, type Results } from '../../bench/lib/results.js';

/**
 * The CI smoke run of the benchmarks: `npm run bench -- --quick` must finish and write a well-formed
 * results file and its charts. No timing is asserted: the numbers of a shared CI machine mean nothing.
 */
describe('bench --quick (smoke)', function () {
  this.timeout(15 * 60_000);

  it('runs every scenario and writes a well-formed results file and charts', async () => {
    const out = tempDir('bench');
    const name = 'ci-smoke';
    let output = '';
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench/run.ts'), '--quick', '--name', name, '--out', out], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
    assert.equal(code, 0, `bench --quick exited ${code}:\n${output.slice(-4000)}`);

    const results = JSON.parse(fs.readFileSync(path.join(out, `${name}.json`), 'utf8')) as Results;
    assert.deepEqual(validateResults(results), []);
    assert.equal(results.quick, true);
    const names = results.scenarios.map((s) => s.name);
    for (const s of ['latency', 'throughput', 'peers', 'fleet', 'worker-overhead', 'logs']) assert.ok(names.includes(s), `scenario ${s} missing`);
    for (const s of results.scenarios) assert.ok(s.rows.length > 0, `scenario ${s.name} has no rows`);
    for (const chart of ['latency', 'throughput-spawn', 'throughput-noop']) {
      const svg = fs.readFileSync(path.join(out, `${name}-${chart}.svg`), 'utf8');
      assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
      assert.match(svg, /<path d="M/, `chart ${chart} draws no line`);
    }
    assert.match(output, /## latency/, 'the summary table is printed');
  });
});
