import fs from 'node:fs';
import http2 from 'node:http2';
import tls from 'node:tls';
import { Code, ConnectError, createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { Http2SessionManager, createGrpcTransport } from '@connectrpc/connect-node';
import { withLeanUnary } from './lean-unary.js';
import { JobService } from '../../../gen/edge/v1/job_service_pb.js';
import { LogService } from '../../../gen/edge/v1/log_service_pb.js';
import { WorkerService } from '../../../gen/edge/v1/worker_service_pb.js';
import { TokenService } from '../../../gen/edge/v1/token_service_pb.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:50051';

export interface Api {
  readonly url: string;
  readonly jobs: Client<typeof JobService>;
  readonly workers: Client<typeof WorkerService>;
  readonly logs: Client<typeof LogService>;
  readonly tokens: Client<typeof TokenService>;
  /** Closes the HTTP/2 connection. */
  close(): void;
}

/**
 * Clients of the three services over one gRPC (HTTP/2) connection. A token, when given, goes with
 * every call as `authorization: Bearer …`.
 */
export interface ConnectOptions {
  /** PEM file of a private CA to trust for https:// URLs (besides the system's CAs). */
  caFile?: string;
}

/** A token, or where to get the current one (a worker swaps its registration secret for its own token). */
export type TokenSource = string | (() => string | undefined) | undefined;

export function connectApi(url: string, token?: TokenSource, opts: ConnectOptions = {}): Api {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new Error(`API URL "${url}" is not a URL; expected e.g. ${DEFAULT_API_URL}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(`API URL "${url}" must start with http:// or https://`);
  }
  // Pings find a dead connection within seconds, so a worker notices a lost server and reconnects.
  let ca: Buffer | undefined;
  if (opts.caFile) {
    try {
      ca = fs.readFileSync(opts.caFile);
    } catch (err) {
      throw new Error(`cannot read the CA file ${opts.caFile}: ${(err as Error).message}`);
    }
    if (parsed.protocol !== 'https:') throw new Error(`a CA file (--ca) needs an https:// API URL, not ${url}`);
  }
  const sessionManager = new ResetAwareSessionManager(
    url,
    { pingIntervalMs: 5_000, pingTimeoutMs: 5_000, idleConnectionTimeoutMs: 60_000 },
    // The private CA is added to the system's, so a public certificate still works.
    ca ? { ca: [...tls.rootCertificates, ca.toString('utf8')] } : undefined,
  );
  const interceptors: Interceptor[] = token ? [bearer(token)] : [];
  const transport = withLeanUnary(createGrpcTransport({ baseUrl: url, sessionManager, interceptors }), sessionManager, () => authorization(token));
  return {
    url,
    jobs: createClient(JobService, transport),
    workers: createClient(WorkerService, transport),
    logs: createClient(LogService, transport),
    tokens: createClient(TokenService, transport),
    close: () => sessionManager.abort(),
  };
}

/**
 * connect-node's HTTP/2 session manager, with one hole closed. A server that stops cleanly sends a
 * GOAWAY (NO_ERROR) and lets the calls in flight finish, but cuts the connection of those that outlast
 * its grace (a log upload lasts as long as its job), and the kernel then resets it. Node ignores an
 * ECONNRESET once a GOAWAY came: it closes the session without an error, and its open streams with the
 * GOAWAY's code, NO_ERROR. connect-node takes a stream closed with NO_ERROR for a normal end and waits
 * for a response that never comes: the call neither answers nor fails, for ever (a log upload has no
 * deadline; the worker's job then never ends). Here a stream closed before the server ended its
 * response fails with Unavailable, like any lost connection, so the call is tried again (on another
 * replica). A stream the server ended is closed only after its end was read, so no finished call is hit.
 */
export class ResetAwareSessionManager extends Http2SessionManager {
  override async request(...args: Parameters<Http2SessionManager['request']>): Promise<http2.ClientHttp2Stream> {
    const stream = await super.request(...args);
    stream.once('close', () => {
      if (stream.rstCode !== http2.constants.NGHTTP2_NO_ERROR || stream.readableEnded) return;
      // connect-node listens for 'error' on every stream it opens (and ignores it once the call is over).
      if (stream.listenerCount('error')) {
        stream.emit('error', new ConnectError(`the connection to ${this.authority} closed before the server answered`, Code.Unavailable));
      }
    });
    return stream;
  }
}

/**
 * Several API URLs (replicas) of which one is in use; a worker moves to the next when calls to the
 * current one fail, so it rides out the loss of a replica without a load balancer.
 */
export class ApiPool {
  private index = 0;
  private readonly apis: Api[];

  constructor(urls: string[], token?: TokenSource, opts: ConnectOptions = {}) {
    if (!urls.length) throw new Error('no API URL given');
    this.apis = urls.map((url) => connectApi(url, token, opts));
  }

  get api(): Api {
    return this.apis[this.index]!;
  }

  get size(): number {
    return this.apis.length;
  }

  /** Moves on to the next URL (no-op with one). Returns the URL now in use. */
  failover(): string {
    this.index = (this.index + 1) % this.apis.length;
    return this.api.url;
  }

  close(): void {
    for (const a of this.apis) a.close();
  }
}

/** What the runtime asks for its calls: whichever API is in use right now. */
export interface ApiSource {
  readonly api: Api;
}

/** Splits a comma-separated list of API URLs. */
export function parseApiUrls(list: string): string[] {
  return list.split(',').map((u) => u.trim()).filter(Boolean);
}

/** The token on the calls connect-es still makes (log uploads, the job stream); unary calls get it from authorization(). */
function bearer(token: TokenSource): Interceptor {
  return (next) => (req) => {
    const { authorization: value } = authorization(token);
    if (value) req.header.set('authorization', value);
    return next(req);
  };
}

/** The authorization header of the token now (none without one). */
function authorization(token: TokenSource): Record<string, string> {
  const value = typeof token === 'function' ? token() : token;
  return value ? { authorization: `Bearer ${value}` } : {};
}

const UNTRUSTED_CERT_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_HAS_EXPIRED',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** When a call failed because the server's certificate is not trusted: a message that says what to do. */
export function untrustedCertificate(err: unknown): string | undefined {
  for (let e = err as { code?: unknown; cause?: unknown; message?: unknown } | undefined, i = 0; e && i < 5; e = e.cause as typeof e, i++) {
    if (typeof e.code === 'string' && UNTRUSTED_CERT_CODES.has(e.code)) {
      return `the server's TLS certificate is not trusted (${e.code}: ${String(e.message ?? '')}); give the CA that signed it with --ca FILE (or EDGE_CA_FILE)`;
    }
  }
  return undefined;
}
