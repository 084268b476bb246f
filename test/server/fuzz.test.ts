import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import { ScalarType, create, type DescField, type DescMessage, type DescService } from '@bufbuild/protobuf';
import { Code, ConnectError, createClient, type Transport } from '@connectrpc/connect';
import { Http2SessionManager, createConnectTransport, createGrpcTransport } from '@connectrpc/connect-node';
import fc from 'fast-check';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import { LogService } from '../../gen/edge/v1/log_service_pb.js';
import { TokenService } from '../../gen/edge/v1/token_service_pb.js';
import { WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import { Health } from '../../gen/grpc/health/v1/health_pb.js';
import type { RunningServer } from '../../server/app.js';
import { startTestServer } from '../helpers/test-server.js';
import { VERSION } from '../../shared/version.js';
import { TEST_ADMIN_TOKEN, TEST_REGISTRATION_SECRET, bearer } from '../helpers/credentials.js';
import { createSqliteDatabase, type TestDatabase } from '../helpers/databases.js';

const SERVICES: DescService[] = [JobService, WorkerService, LogService, TokenService];
const SEED = 20_260_525;
/** Codes a well-behaved server may answer hostile input with. Internal and Unknown are bugs. */
const PROPER = new Set([
  Code.InvalidArgument,
  Code.NotFound,
  Code.Unauthenticated,
  Code.PermissionDenied,
  Code.FailedPrecondition,
  Code.OutOfRange,
  Code.ResourceExhausted,
  Code.AlreadyExists,
  Code.Unimplemented,
]);

/** Strings that reach validation's corners: empty, huge, NUL, lone surrogates, ids that exist. */
function stringArb(known: string[]): fc.Arbitrary<string> {
  return fc.oneof(
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.constantFrom('', '\0', 'a\0b', '\uD800', 'default', 'fuzz-w', '0', '-1', '../../etc/passwd', '%s%n', 'q'.repeat(257), 'x'.repeat(70_000)),
    fc.uuid(),
    fc.constantFrom(...known),
  );
}

function scalarArb(t: ScalarType, known: string[]): fc.Arbitrary<unknown> {
  switch (t) {
    case ScalarType.STRING:
      return stringArb(known);
    case ScalarType.BOOL:
      return fc.boolean();
    case ScalarType.BYTES:
      return fc.oneof(fc.uint8Array({ maxLength: 512 }), fc.constant(new Uint8Array(5 * 1024 * 1024)));
    case ScalarType.INT64:
    case ScalarType.SINT64:
    case ScalarType.SFIXED64:
      return fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n);
    case ScalarType.UINT64:
    case ScalarType.FIXED64:
      return fc.bigInt(0n, 2n ** 64n - 1n);
    case ScalarType.UINT32:
    case ScalarType.FIXED32:
      return fc.integer({ min: 0, max: 2 ** 32 - 1 });
    case ScalarType.DOUBLE:
    case ScalarType.FLOAT:
      return fc.double();
    default:
      return fc.oneof(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), fc.integer({ min: -3, max: 20 }));
  }
}

/** Any message of a schema: every field maybe set, to random or hostile values; nesting bounded. */
function messageArb(schema: DescMessage, known: string[], depth = 0): fc.Arbitrary<Record<string, unknown>> {
  const parts: Record<string, fc.Arbitrary<unknown>> = {};
  for (const f of schema.fields) {
    if (f.oneof) continue;
    const a = fieldArb(f, known, depth);
    if (a) parts[f.localName] = a;
  }
  return fc.record(parts, { requiredKeys: [] });
}

function fieldArb(f: DescField, known: string[], depth: number): fc.Arbitrary<unknown> | undefined {
  const enumArb = () => fc.integer({ min: -2, max: 15 });
  switch (f.fieldKind) {
    case 'scalar':
      return scalarArb(f.scalar, known);
    case 'enum':
      return enumArb();
    case 'message':
      return depth > 2 ? undefined : messageArb(f.message, known, depth + 1).map((init) => create(f.message, init as never));
    case 'list': {
      const item = f.listKind === 'scalar' ? scalarArb(f.scalar, known) : f.listKind === 'enum' ? enumArb() : depth > 2 ? undefined : messageArb(f.message, known, depth + 1).map((init) => create(f.message, init as never));
      if (!item) return undefined;
      // Long lists of scalars test the count limits; long lists of messages would only be slow.
      // Long lists (of short items: the client's own HTTP/2 buffers are bounded too) test the count limits.
      const short = f.listKind === 'scalar' && f.scalar === ScalarType.STRING ? fc.string({ maxLength: 8 }) : item;
      return f.listKind === 'message' ? fc.array(item, { maxLength: 4 }) : fc.oneof(fc.array(item, { maxLength: 4 }), fc.array(short, { minLength: 1200, maxLength: 1200 }));
    }
    case 'map':
      return f.mapKind === 'scalar' ? fc.dictionary(fc.string({ maxLength: 20 }), scalarArb(f.scalar, known) as fc.Arbitrary<string>, { maxKeys: 4 }) : undefined;
    default:
      return undefined;
  }
}

let lastMessage = '';
async function outcome(p: () => Promise<unknown>): Promise<Code | 'ok'> {
  try {
    await p();
    return 'ok';
  } catch (err) {
    const e = ConnectError.from(err);
    lastMessage = e.rawMessage + (e.cause ? ` (cause: ${String((e.cause as Error).message ?? e.cause)})` : '');
    return e.code;
  }
}

describe('fuzz: thousands of random and malformed requests to every RPC (fast-check, fixed seed)', function () {
  this.timeout(180_000);
  let db: TestDatabase;
  let server: RunningServer;
  let sessions: Http2SessionManager;
  let workerToken: string;
  const seedIds: string[] = [];
  const snapshot = async () => {
    const admin = createClient(JobService, grpc(TEST_ADMIN_TOKEN));
    const logs = createClient(LogService, grpc(TEST_ADMIN_TOKEN));
    const out: unknown[] = [];
    for (const id of seedIds) {
      const { job } = await admin.getJob({ id });
      const log = await logs.readLogs({ jobId: id, maxBytes: 4 * 1024 * 1024 });
      out.push({ id, state: job!.state, attempt: job!.attempt, worker: job!.workerName, exit: job!.exitCode, argv: job!.spec!.argv, queue: job!.spec!.queue, log: Buffer.from(log.data).toString('base64') });
    }
    return out;
  };
  const grpc = (token?: string): Transport => createGrpcTransport({ baseUrl: server.url, sessionManager: sessions, interceptors: token ? [bearer(token)] : [] });
  const connect = (token?: string): Transport => createConnectTransport({ baseUrl: server.url, httpVersion: '1.1', interceptors: token ? [bearer(token)] : [] });

  before(async () => {
    db = await createSqliteDatabase();
    server = await startTestServer(db.url);
    // Room for the largest hostile messages on our side, so the server is what refuses them. The
    // client's own session memory: Node counts the unsent rest of every over-size message the
    // server refused early against it (reports may now carry bytes, so many 5 MB messages are sent),
    // and at the limit the client ends its own session with ENHANCE_YOUR_CALM. The server is not involved.
    sessions = new Http2SessionManager(server.url, undefined, { maxSessionMemory: 2000 });
    // Before the fuzzing: finished jobs with logs, and queued jobs no worker serves.
    const jobs = createClient(JobService, grpc(TEST_ADMIN_TOKEN));
    const reg = await createClient(WorkerService, grpc(TEST_REGISTRATION_SECRET)).registerWorker({ name: 'fuzz-w', queues: ['fuzz-run'], concurrency: 4, version: VERSION });
    workerToken = reg.workerToken;
    const w = createClient(WorkerService, grpc(workerToken));
    const wl = createClient(LogService, grpc(workerToken));
    const ac = new AbortController();
    const stream = w.fetchJobs({ workerName: 'fuzz-w' }, { signal: ac.signal })[Symbol.asyncIterator]();
    for (let i = 0; i < 3; i++) {
      const { job } = await jobs.submitJob({ spec: { argv: ['echo', `seed ${i}`], queue: 'fuzz-run' } });
      seedIds.push(job!.id);
      let attempt = 0;
      while (!attempt) {
        const { value } = await stream.next();
        if (value?.event.case === 'assignment' && value.event.value.job?.id === job!.id) attempt = value.event.value.attempt;
      }
      await w.updateJobState({ workerName: 'fuzz-w', jobId: job!.id, attempt, state: JobState.RUNNING });
      await wl.uploadLogs((async function* () {
        yield { jobId: job!.id, attempt, offset: 0n, data: new TextEncoder().encode(`seed ${i}\n`) };
      })());
      await w.updateJobState({ workerName: 'fuzz-w', jobId: job!.id, attempt, state: JobState.SUCCEEDED, exitCode: 0 });
    }
    ac.abort();
    for (let i = 0; i < 3; i++) seedIds.push((await jobs.submitJob({ spec: { argv: ['true'], queue: 'fuzz-nobody' } })).job!.id);
  });

  after(async () => {
    sessions?.abort();
    await server?.close();
    await db?.drop();
  });

  it('answers typed random requests with proper codes only, over gRPC and Connect; stored jobs and logs unchanged', async () => {
    const before = await snapshot();
    const methods = SERVICES.flatMap((service) => service.methods.map((method) => ({ service, method })));
    const tally = new Map<string, number>();
    let calls = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...methods),
        fc.constantFrom('grpc', 'connect'),
        fc.constantFrom<string | undefined>(undefined, TEST_ADMIN_TOKEN, TEST_ADMIN_TOKEN, workerToken, TEST_REGISTRATION_SECRET, 'edge_admin_forged', 'x'.repeat(300)),
        fc.integer({ min: 0, max: 2 ** 31 }),
        async ({ service, method }, protocol, token, seed) => {
          const init = fc.sample(messageArb(method.input, seedIds.slice(0, 3)), { seed, numRuns: 1 })[0]!;
          let message;
          try {
            message = create(method.input, init as never);
          } catch {
            return; // values protobuf-es itself refuses to build (out-of-range ints) never reach the wire
          }
          const transport = protocol === 'grpc' ? grpc(token) : connect(token);
          const client = createClient(service, transport) as unknown as Record<string, (...a: unknown[]) => unknown>;
          const fn = client[method.localName]!;
          const code = await outcome(async () => {
            if (method.methodKind === 'unary') return fn(message, { timeoutMs: 10_000 });
            if (method.methodKind === 'server_streaming') {
              for await (const _ of fn(message, { timeoutMs: 300 }) as AsyncIterable<unknown>) break;
              return;
            }
            return fn((async function* () {
              yield message;
              yield message;
            })(), { timeoutMs: 10_000 });
          });
          calls++;
          const key = `${code === 'ok' ? 'OK' : Code[code]}`;
          tally.set(key, (tally.get(key) ?? 0) + 1);
          const streaming = method.methodKind === 'server_streaming';
          assert.ok(code === 'ok' || PROPER.has(code) || (streaming && code === Code.DeadlineExceeded), `${service.typeName}/${method.name} over ${protocol}: ${Code[code as Code]}: ${lastMessage}`);
        },
      ),
      { seed: SEED, numRuns: 2500 },
    );
    console.log(`      typed: ${calls} calls; ${[...tally].map(([k, v]) => `${k} ${v}`).join(', ')}`);
    assert.deepEqual(await snapshot(), before);
    assert.equal((await createClient(Health, grpc()).check({})).status, 1);
  });

  it('answers malformed bodies (random bytes, broken JSON, bad framing) with proper codes; the server stays up', async () => {
    const before = await snapshot();
    const url = new URL(server.url);
    const paths = SERVICES.flatMap((s) => s.methods.filter((m) => m.methodKind === 'unary').map((m) => `/${s.typeName}/${m.name}`));
    const h2 = http2.connect(server.url);
    h2.on('error', () => undefined);
    let calls = 0;
    const statuses = new Map<string, number>();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...paths),
        fc.constantFrom('connect-proto', 'connect-json', 'grpc'),
        fc.constantFrom<string | undefined>(undefined, TEST_ADMIN_TOKEN, workerToken),
        fc.oneof(fc.uint8Array({ maxLength: 600 }), fc.json().map((j) => new TextEncoder().encode(j)), fc.string({ unit: 'binary' }).map((s) => Buffer.from(s, 'utf8'))),
        async (path, kind, token, body) => {
          calls++;
          const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
          if (kind === 'grpc') {
            const { status, grpcStatus, grpcMessage } = await new Promise<{ status: number; grpcStatus: string; grpcMessage: string }>((resolve, reject) => {
              const framed = Buffer.concat([Buffer.from([Math.random() < 0.9 ? 0 : 1, 0, 0, 0, 0]), Buffer.from(body)]);
              framed.writeUInt32BE(body.length + (body.length % 7 === 3 ? 5 : 0), 1); // sometimes a lying length
              const s = h2.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
              let status = 0;
              let grpcStatus = '';
              let grpcMessage = '';
              s.on('response', (h) => {
                status = Number(h[':status']);
                if (h['grpc-status']) grpcStatus = String(h['grpc-status']);
                grpcMessage = String(h['grpc-message'] ?? '');
              });
              s.on('trailers', (t) => {
                grpcStatus = String(t['grpc-status'] ?? grpcStatus);
                grpcMessage = String(t['grpc-message'] ?? grpcMessage);
              });
              s.on('data', () => undefined);
              s.on('end', () => resolve({ status, grpcStatus, grpcMessage }));
              s.on('error', reject);
              s.setTimeout(10_000, () => s.close(http2.constants.NGHTTP2_CANCEL));
              s.end(framed);
            });
            statuses.set(`grpc ${grpcStatus}`, (statuses.get(`grpc ${grpcStatus}`) ?? 0) + 1);
            assert.equal(status, 200);
            assert.ok(grpcStatus === '0' || PROPER.has(Number(grpcStatus) as Code), `${path}: grpc-status ${grpcStatus} ${decodeURIComponent(grpcMessage)}`);
            return;
          }
          const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
            const req = http.request(
              { host: url.hostname, port: url.port, path, method: 'POST', headers: { ...headers, 'content-type': kind === 'connect-json' ? 'application/json' : 'application/proto' } },
              (res) => {
                let text = '';
                res.on('data', (d: Buffer) => (text += d.toString('latin1')));
                res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
              },
            );
            req.on('error', reject);
            req.end(body);
          });
          statuses.set(`http ${status}`, (statuses.get(`http ${status}`) ?? 0) + 1);
          assert.ok(status < 500, `${path} (${kind}): HTTP ${status} ${text.slice(0, 200)}`);
          if (status !== 200) assert.doesNotMatch(text, /"code":"(internal|unknown)"/, `${path}: ${text.slice(0, 200)}`);
        },
      ),
      { seed: SEED, numRuns: 1500 },
    );
    h2.close();
    console.log(`      raw: ${calls} requests; ${[...statuses].map(([k, v]) => `${k}: ${v}`).join(', ')}`);
    assert.deepEqual(await snapshot(), before);
    assert.equal((await createClient(Health, grpc()).check({})).status, 1);
  });
});
