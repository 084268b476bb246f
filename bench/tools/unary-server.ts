/**
 * A server for bench/tools/unary-cost.ts: `tsx bench/tools/unary-server.ts connect|compat|raw PORT`.
 * connect: connect-node serving only grpc.health.v1 (no interceptors) on h2c, as a floor for connect.
 * raw: Node's http2 stream API answering Health/Check with a fixed gRPC frame, as a floor for HTTP/2.
 * compat: the same answer through Node's HTTP/2 compatibility API (request and response objects), as
 * the short gRPC path uses it: what that layer costs on top of the stream API.
 */
import http2 from 'node:http2';
import { connectNodeAdapter } from '@connectrpc/connect-node';
import { Health, HealthCheckResponse_ServingStatus as Status } from '../../gen/grpc/health/v1/health_pb.js';

const [mode, port] = process.argv.slice(2);
let server: http2.Http2Server;
if (mode === 'connect') {
  const handler = connectNodeAdapter({ routes: (r) => r.service(Health, { async check() { return { status: Status.SERVING }; }, async *watch() {} }) });
  server = http2.createServer(handler);
} else if (mode === 'compat') {
  const body = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);
  server = http2.createServer((req, res) => {
    req.on('data', () => undefined);
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/grpc+proto' });
      res.write(body);
      res.addTrailers({ 'grpc-status': '0' });
      res.end();
    });
  });
} else {
  // status SERVING = 1: field 1 varint 1 -> 08 01
  const body = Buffer.from([0, 0, 0, 0, 2, 0x08, 0x01]);
  server = http2.createServer();
  server.on('stream', (stream) => {
    stream.on('data', () => undefined);
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc+proto' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(body);
    });
  });
}
server.listen(Number(port), '127.0.0.1', () => console.log('listening'));
process.on('SIGINT', () => process.exit(0));
