import assert from 'node:assert/strict';
import { boundHeapGrowth } from '../../../server/process-heap.js';

describe('the server bounds its heap growth', () => {
  it("sets V8's heap growth unless the operator gave node one", () => {
    assert.equal(boundHeapGrowth(['--heap-growing-percent=80']), false);
    assert.equal(boundHeapGrowth(['--heap_growing_percent', '80']), false);
    assert.equal(boundHeapGrowth(['--max-old-space-size=2048']), true);
  });
});
