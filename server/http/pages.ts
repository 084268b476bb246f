import type { ConnectNodeAdapterOptions } from '@connectrpc/connect-node';

type NodeHandlerFn = NonNullable<ConnectNodeAdapterOptions['fallback']>;
import type { ServerMetrics } from '../telemetry/server-metrics.js';
import { answerUnknownRpc } from './unknown-methods.js';
import type { Principal } from '../auth/authenticate.js';

/**
 * Who may scrape /metrics: its labels name every team's queues, so only an admin token of no team
 * (Prometheus sends it with `authorization: credentials_file: …`).
 */
export function metricsAccess(p: Principal | undefined): 'ok' | 'unauthenticated' | 'forbidden' {
  if (!p) return 'unauthenticated';
  return p.kind === 'admin' && p.team === undefined ? 'ok' : 'forbidden';
}

/** What the port serves besides RPCs: the web pages, GET /metrics (Prometheus text format); an RPC of an unknown method is UNIMPLEMENTED; anything else is 404. */
export function pagesHandler(
  metrics: ServerMetrics,
  log: (msg: string, err?: unknown) => void,
  /** The web pages (`/`, `/ui/…`); answers true when the request was theirs. */
  web?: (req: Parameters<NodeHandlerFn>[0], res: Parameters<NodeHandlerFn>[1]) => boolean,
  /** The caller of a plain HTTP request, from its `authorization: Bearer …` header. */
  caller: (authorization: string | undefined) => Promise<Principal | undefined> = async () => undefined,
): NodeHandlerFn {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (answerUnknownRpc(req, res)) return;
    if (web?.(req, res)) return;
    if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
      const header = req.headers.authorization;
      caller(Array.isArray(header) ? header[0] : header)
        .then((p) => {
          const access = metricsAccess(p);
          if (access === 'ok') return metrics.render();
          res.writeHead(access === 'unauthenticated' ? 401 : 403, {
            'content-type': 'text/plain',
            ...(access === 'unauthenticated' ? { 'www-authenticate': 'Bearer' } : {}),
          });
          res.end(
            access === 'unauthenticated'
              ? '/metrics needs an admin token: send authorization: Bearer <token>\n'
              : '/metrics shows every team\'s queues: it needs an admin token of no team\n',
          );
          return undefined;
        })
        .then(
          (rendered) => {
            if (!rendered) return;
            res.writeHead(200, { 'content-type': rendered.contentType });
            res.end(req.method === 'HEAD' ? '' : rendered.body);
          },
          (err) => {
            log('metrics scrape failed', err);
            res.writeHead(503, { 'content-type': 'text/plain' });
            res.end('metrics unavailable: the database did not answer\n');
          },
        );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end(`${path} not found; this port serves gRPC, gRPC-Web, Connect, GET /metrics and the web pages under /ui/\n`);
  };
}
