// Preloaded into a server by bench/tools/fleet-memory.ts (`node --expose-gc --import`): writes
// process.memoryUsage() as JSON to EDGE_MEM_REPORT every second, so the bench can tell the JS heap
// from native memory. When the file EDGE_MEM_REPORT.gc exists, a full GC runs first (and the file goes).
import fs from 'node:fs';

const out = process.env.EDGE_MEM_REPORT;
if (out) {
  setInterval(() => {
    try {
      if (fs.existsSync(`${out}.gc`) && typeof globalThis.gc === 'function') {
        globalThis.gc();
        fs.rmSync(`${out}.gc`, { force: true });
      }
      fs.writeFileSync(out, JSON.stringify({ at: Date.now(), ...process.memoryUsage() }));
    } catch {
      // the bench's folder may be gone already
    }
  }, 1000).unref();
}
