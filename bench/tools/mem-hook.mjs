// Preloaded into a server by bench/tools/fleet-memory.ts (`node --expose-gc --import`): writes
// process.memoryUsage() as JSON to EDGE_MEM_REPORT every second, so the bench can tell the JS heap
// from native memory, and counts the HTTP/2 responses under way (liveResponses). When the file EDGE_MEM_REPORT.gc exists, a full GC runs first (and the file goes).
import fs from 'node:fs';
import http2 from 'node:http2';

// HTTP/2 responses whose head was written and that are still open (the server's live streams):
// every answer's head goes through the stream's respond(), the compatibility layer's too. The stream
// class is not exported: its prototype is patched at a session's first stream.
let liveResponses = 0;
function counted(open) {
  return function (...args) {
    if (!this.headersSent) {
      liveResponses++;
      this.once('close', () => liveResponses--);
    }
    return open.apply(this, args);
  };
}
let streamPatched = false;
for (const create of ['createServer', 'createSecureServer']) {
  const original = http2[create];
  http2[create] = function (...args) {
    const server = original.apply(this, args);
    server.on('session', (session) =>
      session.once('stream', (stream) => {
        if (streamPatched) return;
        streamPatched = true;
        const proto = Object.getPrototypeOf(stream);
        proto.respond = counted(proto.respond);
      }),
    );
    return server;
  };
}

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
