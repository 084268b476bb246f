// Preloaded into a server by bench/tools/fleet-memory.ts (`node --expose-gc --import`): writes
// process.memoryUsage() as JSON to EDGE_MEM_REPORT every second, so the bench can tell the JS heap
// from native memory, and counts the HTTP/2 responses under way (liveResponses). When the file EDGE_MEM_REPORT.gc exists, a full GC runs first (and the file goes).
import fs from 'node:fs';
import http2 from 'node:http2';

// HTTP/2 responses whose head was written and that are still open (the server's live streams).
let liveResponses = 0;
const writeHead = http2.Http2ServerResponse.prototype.writeHead;
http2.Http2ServerResponse.prototype.writeHead = function (...args) {
  if (!this.headersSent) {
    liveResponses++;
    this.once('close', () => liveResponses--);
  }
  return writeHead.apply(this, args);
};

const out = process.env.EDGE_MEM_REPORT;
if (out) {
  setInterval(() => {
    try {
      if (fs.existsSync(`${out}.gc`) && typeof globalThis.gc === 'function') {
        globalThis.gc();
        fs.rmSync(`${out}.gc`, { force: true });
      }
      fs.writeFileSync(out, JSON.stringify({ at: Date.now(), liveResponses, ...process.memoryUsage() }));
    } catch {
      // the bench's folder may be gone already
    }
  }, 1000).unref();
}
