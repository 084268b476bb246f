import { createClient, type Client, type Interceptor } from '@connectrpc/connect';
import { Http2SessionManager, createGrpcTransport } from '@connectrpc/connect-node';
import { JobService } from '../../../gen/edge/v1/job_service_pb.js';
import { LogService } from '../../../gen/edge/v1/log_service_pb.js';
import { WorkerService } from '../../../gen/edge/v1/worker_service_pb.js';

export const DEFAULT_API_URL = 'http://127.0.0.1:50051';

export interface Api {
  readonly url: string;
  readonly jobs: Client<typeof JobService>;
  readonly workers: Client<typeof WorkerService>;
  readonly logs: Client<typeof LogService>;
  /** Closes the HTTP/2 connection. */
  close(): void;
}

/**
 * Clients of the three services over one gRPC (HTTP/2) connection. A token, when given, goes with
 * every call as `authorization: Bearer …`.
 */
export function connectApi(url: string, token?: string): Api {
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
  const sessionManager = new Http2SessionManager(url, { pingIntervalMs: 5_000, pingTimeoutMs: 5_000, idleConnectionTimeoutMs: 60_000 });
  const interceptors: Interceptor[] = token ? [bearer(token)] : [];
  const transport = createGrpcTransport({ baseUrl: url, sessionManager, interceptors });
  return {
    url,
    jobs: createClient(JobService, transport),
    workers: createClient(WorkerService, transport),
    logs: createClient(LogService, transport),
    close: () => sessionManager.abort(),
  };
}

/**
 * Several API URLs (replicas) of which one is in use; a worker moves to the next when calls to the
 * current one fail, so it rides out the loss of a replica without a load balancer.
 */
export class ApiPool {
  private index = 0;
  private readonly apis: Api[];

  constructor(urls: string[], token?: string) {
    if (!urls.length) throw new Error('no API URL given');
    this.apis = urls.map((url) => connectApi(url, token));
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

function bearer(token: string): Interceptor {
  return (next) => (req) => {
    req.header.set('authorization', `Bearer ${token}`);
    return next(req);
  };
}
