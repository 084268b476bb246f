/**
 * A small gRPC client over node:http2 for the simulated workers: the same requests on the wire as a
 * connect-es client sends (gRPC framing, protobuf messages, `grpc-timeout`, trailers), without its
 * pipeline. With connect-es, four simulator processes holding 10,000 workers used about one of this
 * machine's two cores (a tenth of it in abort-signal listeners), and the server they measure had the
 * other one to share with MariaDB. Real workers run elsewhere; the load generator should cost little.
 * Only what the simulator needs: unary and server-streaming calls, identity encoding, no retries.
 */
import http2 from 'node:http2';
import { fromBinary, toBinary, create, type DescMessage, type DescMethodServerStreaming, type DescMethodUnary, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';

export class GrpcError extends Error {
  constructor(
    readonly code: Code,
    message: string,
  ) {
    super(message);
  }
}

/** One HTTP/2 connection to a server, opened again when it is lost or told to go away. */
export class LeanChannel {
  private session: http2.ClientHttp2Session | undefined;

  constructor(private readonly url: string) {}

  unary<I extends DescMessage, O extends DescMessage>(method: DescMethodUnary<I, O>, input: MessageInitShape<I>, headers: Record<string, string>, timeoutMs: number): Promise<MessageShape<O>> {
    return new Promise((resolve, reject) => {
      let answer: MessageShape<O> | undefined;
      this.call(method, input, { ...headers, 'grpc-timeout': `${timeoutMs}m` }, undefined, (bytes) => (answer = fromBinary(method.output, bytes)), (err) => {
        if (err) reject(err);
        else if (!answer) reject(new GrpcError(Code.Internal, 'no response message'));
        else resolve(answer);
      });
    });
  }

  /** Resolves when the server ends the stream with OK; `onMessage` gets each message in order. */
  serverStream<I extends DescMessage, O extends DescMessage>(method: DescMethodServerStreaming<I, O>, input: MessageInitShape<I>, headers: Record<string, string>, signal: AbortSignal, onMessage: (m: MessageShape<O>) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.call(method, input, headers, signal, (bytes) => onMessage(fromBinary(method.output, bytes)), (err) => (err ? reject(err) : resolve()));
    });
  }

  close(): void {
    this.session?.destroy();
    this.session = undefined;
  }

  private connection(): http2.ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const s = http2.connect(this.url);
    // Each stream hears of a lost connection through its own events.
    s.on('error', () => {});
    const forget = () => this.session === s && (this.session = undefined);
    s.on('close', forget);
    s.on('goaway', forget);
    this.session = s;
    return s;
  }

  private call(method: DescMethodUnary | DescMethodServerStreaming, input: object, headers: Record<string, string>, signal: AbortSignal | undefined, onMessage: (bytes: Uint8Array) => void, done: (err?: GrpcError) => void): void {
    if (signal?.aborted) return done(new GrpcError(Code.Canceled, 'aborted'));
    let finished = false;
    const finish = (err?: GrpcError) => {
      if (finished) return;
      finished = true;
      signal?.removeEventListener('abort', onAbort);
      done(err);
    };
    let stream: http2.ClientHttp2Stream;
    try {
      stream = this.connection().request({
        ':method': 'POST',
        ':path': `/${method.parent.typeName}/${method.name}`,
        'content-type': 'application/grpc+proto',
        te: 'trailers',
        ...headers,
      });
    } catch (err) {
      this.session = undefined;
      return finish(new GrpcError(Code.Unavailable, (err as Error).message));
    }
    const onAbort = () => {
      stream.close(http2.constants.NGHTTP2_CANCEL);
      finish(new GrpcError(Code.Canceled, 'aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    let status: string | undefined;
    let message = '';
    const statusOf = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] === undefined) return;
      status = String(h['grpc-status']);
      message = String(h['grpc-message'] ?? '');
      try {
        message = decodeURIComponent(message);
      } catch {
        // not percent-encoded as gRPC says: kept as it came
      }
    };
    stream.on('response', statusOf); // a trailers-only answer carries its status in the headers
    stream.on('trailers', statusOf);
    let pending: Buffer = Buffer.alloc(0);
    stream.on('data', (chunk: Buffer) => {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= 5) {
        const len = pending.readUInt32BE(1);
        if (pending.length < 5 + len) break;
        if (pending[0]! & 1) return void onAbort(); // compressed: never asked for
        const bytes = pending.subarray(5, 5 + len);
        pending = pending.subarray(5 + len);
        try {
          onMessage(bytes);
        } catch (err) {
          stream.close(http2.constants.NGHTTP2_CANCEL);
          return finish(new GrpcError(Code.Internal, (err as Error).message));
        }
      }
    });
    stream.on('error', () => {});
    stream.on('close', () => {
      if (status === undefined) finish(new GrpcError(Code.Unavailable, `stream closed without a status (HTTP/2 code ${stream.rstCode})`));
      else if (status === '0') finish();
      else finish(new GrpcError(Number(status) as Code, message));
    });
    const body = toBinary(method.input, create(method.input, input as never));
    const frame = Buffer.allocUnsafe(5 + body.length);
    frame[0] = 0;
    frame.writeUInt32BE(body.length, 1);
    frame.set(body, 5);
    stream.end(frame);
  }
}
