import * as grpc from '@grpc/grpc-js';
import { create, fromBinary, toBinary, type DescMessage, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import type { GenService, GenServiceMethods } from '@bufbuild/protobuf/codegenv2';
import { startServer, type RunningServer, type ServerConfig } from '../../server/app.js';
import { TEST_CREDENTIALS } from '../helpers/credentials.js';
import type { TestDatabase } from '../helpers/databases.js';

/**
 * What a client written from proto/ alone does: a generic @grpc/grpc-js client (messages encoded with
 * the generated schemas, nothing from worker-cli) and plain fetch for Connect JSON.
 */

type Method = { name: string; input: DescMessage; output: DescMessage };

/** A gRPC failure as a client sees it: the numeric status and its details. */
export interface GrpcFailure {
  code: grpc.status;
  details: string;
}

export class RawGrpc {
  readonly client: grpc.Client;

  constructor(port: number, options: grpc.ChannelOptions = {}) {
    this.client = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), options);
  }

  close(): void {
    this.client.close();
  }

  static path(service: GenService<GenServiceMethods>, method: Method): string {
    return `/${service.typeName}/${method.name}`;
  }

  unary<I extends DescMessage, O extends DescMessage>(
    service: GenService<GenServiceMethods>,
    method: { name: string; input: I; output: O },
    msg: MessageInitShape<I>,
    token?: string,
  ): Promise<MessageShape<O>> {
    return new Promise((resolve, reject) =>
      this.client.makeUnaryRequest(
        RawGrpc.path(service, method),
        (m: Uint8Array) => Buffer.from(m),
        (b: Buffer) => fromBinary(method.output, b),
        toBinary(method.input, create(method.input, msg)),
        metadata(token),
        (err, value) => (err ? reject(err) : resolve(value!)),
      ),
    );
  }

  /** A server stream: its messages are collected in `messages`, its end in `ended`. */
  serverStream<I extends DescMessage, O extends DescMessage>(
    service: GenService<GenServiceMethods>,
    method: { name: string; input: I; output: O },
    msg: MessageInitShape<I>,
    token?: string,
  ): OpenStream<MessageShape<O>> {
    const call = this.client.makeServerStreamRequest(
      RawGrpc.path(service, method),
      (m: Uint8Array) => Buffer.from(m),
      (b: Buffer) => fromBinary(method.output, b),
      toBinary(method.input, create(method.input, msg)),
      metadata(token),
    );
    return new OpenStream(call);
  }

  /** A client stream (UploadLogs): sends every message, then resolves with the answer or rejects. */
  clientStream<I extends DescMessage, O extends DescMessage>(
    service: GenService<GenServiceMethods>,
    method: { name: string; input: I; output: O },
    msgs: MessageInitShape<I>[],
    token?: string,
  ): Promise<MessageShape<O>> {
    return new Promise((resolve, reject) => {
      const call = this.client.makeClientStreamRequest(
        RawGrpc.path(service, method),
        (m: Uint8Array) => Buffer.from(m),
        (b: Buffer) => fromBinary(method.output, b),
        metadata(token),
        (err, value) => (err ? reject(err) : resolve(value!)),
      );
      for (const m of msgs) call.write(toBinary(method.input, create(method.input, m)));
      call.end();
    });
  }
}

/** A server stream being read: what arrived, and how it ended once it has. */
export class OpenStream<T> {
  readonly messages: T[] = [];
  ended: { code: grpc.status; details: string } | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(readonly call: grpc.ClientReadableStream<T>) {
    call.on('data', (m: T) => {
      this.messages.push(m);
      this.wake();
    });
    call.on('status', (s: grpc.StatusObject) => {
      this.ended ??= { code: s.code, details: s.details };
      this.wake();
    });
    call.on('error', (e: grpc.ServiceError) => {
      this.ended ??= { code: e.code, details: e.details };
      this.wake();
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Waits until `check` holds for what has arrived; fails after the timeout. */
  async until(what: string, check: (s: this) => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check(this)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what} (got ${this.messages.length} messages${this.ended ? `, ended ${grpc.status[this.ended.code]}: ${this.ended.details}` : ''})`);
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(t);
          this.waiters.delete(done);
          resolve();
        };
        const t = setTimeout(done, Math.min(left, 200));
        this.waiters.add(done);
      });
    }
  }

  cancel(): void {
    this.call.cancel();
  }
}

function metadata(token?: string): grpc.Metadata {
  const md = new grpc.Metadata();
  if (token) md.set('authorization', `Bearer ${token}`);
  return md;
}

/** The failure of a raw gRPC call; fails the test when the call succeeds. */
export async function grpcFailure(p: Promise<unknown>): Promise<GrpcFailure> {
  try {
    await p;
  } catch (err) {
    const e = err as grpc.ServiceError;
    return { code: e.code, details: e.details };
  }
  throw new Error('expected the call to fail');
}

/** A Connect unary call with a JSON body, as curl would send it. */
export async function connectJson(baseUrl: string, path: string, body: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${baseUrl}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    json = { text };
  }
  return { status: res.status, json };
}

/**
 * A Connect server-streaming call with a JSON body, read to its end (or for `forMs` at most): the
 * messages and the end-of-stream frame, decoded from the Connect envelope by hand.
 */
export async function connectJsonStream(
  baseUrl: string,
  path: string,
  body: unknown,
  token?: string,
  forMs = 5000,
): Promise<{ status: number; messages: Record<string, unknown>[]; end: Record<string, unknown> }> {
  const payload = Buffer.from(JSON.stringify(body));
  const frame = Buffer.alloc(5 + payload.length);
  frame.writeUInt8(0, 0);
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, 5);
  const res = await fetch(`${baseUrl}/${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/connect+json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: frame,
    signal: AbortSignal.timeout(forMs),
  });
  const messages: Record<string, unknown>[] = [];
  let end: Record<string, unknown> = {};
  let buf = Buffer.alloc(0);
  try {
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 5 && buf.length >= 5 + buf.readUInt32BE(1)) {
        const flags = buf.readUInt8(0);
        const len = buf.readUInt32BE(1);
        const obj = JSON.parse(buf.subarray(5, 5 + len).toString('utf8')) as Record<string, unknown>;
        buf = buf.subarray(5 + len);
        if (flags & 0x02) end = obj;
        else messages.push(obj);
      }
    }
  } catch (err) {
    if ((err as Error).name !== 'TimeoutError' && (err as Error).name !== 'AbortError') throw err;
  }
  return { status: res.status, messages, end };
}

/** An in-process server on port 0 with limits short enough for tests; its log lines kept. */
export async function conformanceServer(db: TestDatabase, extra: Partial<ServerConfig> = {}): Promise<{ server: RunningServer; logs: string[] }> {
  const logs: string[] = [];
  const server = await startServer({
    host: '127.0.0.1',
    port: 0,
    databaseUrl: db.url,
    heartbeatIntervalSeconds: 1,
    workerTimeoutSeconds: 3,
    assignTimeoutSeconds: 1,
    retryBackoffSeconds: 0,
    log: (msg, err) => logs.push(`${msg}${err ? `: ${(err as Error).message ?? String(err)}` : ''}`),
    credentials: TEST_CREDENTIALS,
    ...extra,
  });
  return { server, logs };
}
