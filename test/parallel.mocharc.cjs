// The full suite (`npm test`): every test file, run by mocha in parallel, the longest files first.
// Mocha hands the files to its workers in this order; a long file started last would run on alone at
// the end while the other workers sit idle. SLOWEST_FIRST is by measured time (see README, Tests), longest
// first; every other file follows in alphabetical order.
const fs = require('node:fs');
const path = require('node:path');
const base = require('../.mocharc.json');

const SLOWEST_FIRST = [
  'test/galera/galera-cluster.test.ts',
  'test/e2e/operator-cli.e2e.test.ts',
  'test/bench/quick-throughput.test.ts',
  'test/e2e/heartbeats.e2e.test.ts',
  'test/e2e/faults.e2e.test.ts',
  'test/bench/quick-latency-peers.test.ts',
  'test/e2e/recovery.e2e.test.ts',
  'test/e2e/scheduling.e2e.test.ts',
  'test/security/slow-clients.test.ts',
  'test/e2e/edge-run.e2e.test.ts',
  'test/conformance/cancel.conformance.test.ts',
  'test/e2e/walking-skeleton.e2e.test.ts',
  'test/e2e/worker-reports.e2e.test.ts',
  'test/e2e/web-pages.e2e.test.ts',
  'test/conformance/streams.conformance.test.ts',
  'test/e2e/job-secrets.e2e.test.ts',
  'test/bench/quick-fleet-workers-logs.test.ts',
  'test/e2e/stress.e2e.test.ts',
  'test/server/fuzz.test.ts',
  'test/e2e/batch-submit-and-wait.e2e.test.ts',
  'test/e2e/npm-package.e2e.test.ts',
  'test/e2e/single-binary.e2e.test.ts',
  'test/store/store.test.ts',
  'test/e2e/debugging-tools.e2e.test.ts',
  'test/bench/quick-web-pages.test.ts',
  'test/security/files-and-jobs.e2e.test.ts',
];

const root = path.resolve(__dirname, '..');
function testFiles(dir) {
  return fs.readdirSync(path.join(root, dir), { withFileTypes: true }).flatMap((e) => {
    const rel = `${dir}/${e.name}`;
    if (e.isDirectory()) return testFiles(rel);
    return e.name.endsWith('.test.ts') ? [rel] : [];
  });
}

const all = testFiles('test').sort();
const missing = SLOWEST_FIRST.filter((f) => !all.includes(f));
if (missing.length) throw new Error(`test/parallel.mocharc.cjs names files that do not exist: ${missing.join(', ')}`);

module.exports = {
  ...base,
  parallel: true,
  jobs: 4,
  spec: [...SLOWEST_FIRST, ...all.filter((f) => !SLOWEST_FIRST.includes(f))],
};
