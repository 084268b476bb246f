import assert from 'node:assert/strict';
import { GROUPS, knownScenarios, quickBench } from './quick-bench.js';

describe('bench --quick smoke groups', () => {
  it('cover every scenario bench/run.ts knows, each once', () => {
    const grouped = Object.values(GROUPS).flatMap((g) => g.scenarios);
    assert.deepEqual([...grouped].sort(), knownScenarios().sort());
  });
});

quickBench('latency-peers');
