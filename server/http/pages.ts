import type { ConnectNodeAdapterOptions } from '@connectrpc/connect-node';

type NodeHandlerFn = NonNullable<ConnectNodeAdapterOptions['fallback']>;
import type { ServerMetrics } from '../telemetry/server-metrics.js';
import { answerUnknownRpc } from './unknown-methods.js';

/** What the port serves besides RPCs: the web pages, GET /metrics (Prometheus text format); an RPC of an unknown method is UNIMPLEMENTED; anything else is 404. */
export function pagesHandler(
  metrics: ServerMetrics,
  log: (msg: string, err?: unknown) => void,
  /** The web pages (`/`, `/ui/…`); answers true when the request was theirs. */
  web?: (req: Parameters<NodeHandlerFn>[0], res: Parameters<NodeHandlerFn>[1]) => boolean,
): NodeHandlerFn {
  return (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (answerUnknownRpc(req, res)) return;
    if (web?.(req, res)) return;
    if (path === '/metrics' && (req.method === 'GET' || req.method === 'HEAD')) {
      metrics.render().then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'content-type': contentType });
          res.end(req.method === 'HEAD' ? '' : body);
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
