import { AsyncLocalStorage } from 'node:async_hooks';
import type { ConnectNodeAdapterOptions } from '@connectrpc/connect-node';
import { Code, ConnectError, createClient, createRouterTransport, type Client } from '@connectrpc/connect';
import { principalInterceptor } from '../auth/auth-interceptor.js';
import type { Principal } from '../auth/authenticate.js';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import { JobService } from '../../gen/edge/v1/job_service_pb.js';
import { LogService } from '../../gen/edge/v1/log_service_pb.js';
import { WorkerState, type Worker } from '../../gen/edge/v1/worker_pb.js';
import { MaintenanceChange, WorkerService } from '../../gen/edge/v1/worker_service_pb.js';
import { routes } from '../routes.js';
import type { ServiceContext } from '../services/context.js';
import { errorInterceptor } from '../services/error-interceptor.js';
import { CSS, JS } from './assets.js';
import { layout, type PageFrame } from './layout.js';
import type { PageAuth } from '../auth/page-auth.js';
import { clearedCookie, COOKIE, crossSite, csrfMatches, csrfToken, noticeMatches, noticeSignature, readCookie, sessionCookie } from './session.js';
import { backOf, jobBody, jobsBody, queuesBody, signInBody, workersBody } from './views.js';

type NodeHandlerFn = NonNullable<ConnectNodeAdapterOptions['fallback']>;
type Response = Parameters<NodeHandlerFn>[1];
type Request = Parameters<NodeHandlerFn>[0];

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'x-frame-options': 'DENY',
};
const REFRESH_MS = 2000;
const JOBS_PAGE_SIZE = 50;
const MAX_FORM_BYTES = 64 * 1024;

export interface WebUiOptions {
  ctx: ServiceContext;
  auth: PageAuth;
  log: (msg: string, err?: unknown) => void;
  /** Aborted when the server shuts down: log streams end at once. */
  shutdownSignal?: AbortSignal;
}

/**
 * The web pages (Workers, Jobs, one job, Queues), rendered on the server from the same services the
 * API serves — called in process, so every rule (validation, pushes to workers) is the API's own.
 * Returns a handler that answers requests under `/ui/` (and `/`) and says whether it did.
 */
export function webUi({ ctx, auth, log, shutdownSignal }: WebUiOptions) {
  // The signed-in admin (resolved from the session on every request) goes with every in-process call,
  // so the services apply the same RPC table and team checks as to an API client with that token.
  const signedInAs = new AsyncLocalStorage<Principal>();
  const asSession = principalInterceptor(async () => {
    const p = signedInAs.getStore();
    if (!p) throw new ConnectError('sign in first', Code.Unauthenticated);
    return p;
  });
  const transport = createRouterTransport(routes(ctx), { router: { interceptors: [errorInterceptor(log), asSession] } });
  const api = {
    jobs: createClient(JobService, transport),
    workers: createClient(WorkerService, transport),
    logs: createClient(LogService, transport),
  };
  const staleAfterMs = 3 * ctx.heartbeatIntervalSeconds * 1000;

  return (req: Request, res: Response): boolean => {
    const url = new URL(req.url ?? '/', 'http://host');
    const path = url.pathname;
    if (path === '/' || path === '/ui' || path === '/ui/') {
      redirect(res, '/ui/workers');
      return true;
    }
    if (!path.startsWith('/ui/')) return false;
    serve(req, res, url).catch((err) => {
      const clientError = err instanceof ConnectError && err.code !== Code.Internal;
      if (!clientError) log(`web page ${req.method} ${path} failed`, err);
      if (res.headersSent) res.end();
      else if (err instanceof ConnectError && err.code !== Code.Internal) send(res, 400, 'text/plain; charset=utf-8', `${err.rawMessage}\n`);
      else send(res, 500, 'text/plain; charset=utf-8', 'the page failed; the server log says why\n');
    });
    return true;
  };

  async function serve(req: Request, res: Response, url: URL) {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === '/ui/assets/app.css') return asset(res, 'text/css; charset=utf-8', CSS);
    if (path === '/ui/assets/app.js') return asset(res, 'text/javascript; charset=utf-8', JS);

    if (path === '/ui/signin') {
      if (method === 'GET') return page(res, 200, { title: 'Sign in' }, signInBody(url.searchParams.has('failed'), localPath(url.searchParams.get('next'))));
      if (method !== 'POST') return send(res, 405, 'text/plain', 'GET or POST\n');
      if (crossSite(req)) return send(res, 403, 'text/plain', 'cross-site sign-in refused\n');
      const form = await readForm(req);
      const token = form.get('token') ?? '';
      const session = await auth.signIn(token);
      if (!session) return redirect(res, `/ui/signin?failed=1`);
      res.setHeader('set-cookie', sessionCookie(req, session));
      return redirect(res, localPath(form.get('next')));
    }

    // Every other page needs an admin session.
    const session = readCookie(req, COOKIE) ?? '';
    const principal = session ? await auth.principal(session) : undefined;
    if (!principal) {
      if (method === 'GET' && !path.endsWith('/log/stream')) return redirect(res, `/ui/signin?next=${encodeURIComponent(url.pathname + url.search)}`);
      return send(res, 401, 'text/plain', 'sign in first\n');
    }
    return signedInAs.run(principal, () => signedIn(req, res, url, session));
  }

  /** Pages and actions of a signed-in admin. */
  async function signedIn(req: Request, res: Response, url: URL, session: string) {
    const path = url.pathname;
    const method = req.method ?? 'GET';
    const csrf = csrfToken(session);

    if (method === 'POST') {
      if (crossSite(req)) return send(res, 403, 'text/plain', 'cross-site request refused\n');
      const form = await readForm(req);
      if (!csrfMatches(session, form.get('csrf') ?? undefined)) return send(res, 403, 'text/plain', 'missing or wrong CSRF token: reload the page\n');
      const back = localPath(form.get('back'));
      if (path === '/ui/signout') {
        await auth.signOut(session);
        res.setHeader('set-cookie', clearedCookie(req));
        return redirect(res, '/ui/signin');
      }
      let notice: { text: string; error: boolean };
      try {
        if (path === '/ui/workers/action') notice = await workerAction(form);
        else if (path === '/ui/workers/bulk') notice = await bulkAction(form);
        else if (path === '/ui/jobs/cancel') notice = await cancelJob(form);
        else return send(res, 404, 'text/plain', 'no such action\n');
      } catch (err) {
        notice = { text: messageOf(err), error: true };
      }
      return redirect(res, withNotice(back, notice, session));
    }
    if (method !== 'GET' && method !== 'HEAD') return send(res, 405, 'text/plain', 'GET or POST\n');

    // Only notices this server wrote for this session show: a link cannot put words on the page.
    const text = url.searchParams.get('notice');
    const error = url.searchParams.get('error') === '1';
    const notice = text && noticeMatches(session, text, error, url.searchParams.get('sig') ?? undefined) ? { text, error } : undefined;
    const frame = (title: string, here?: PageFrame['here']): PageFrame => ({
      title,
      here,
      csrf,
      refreshMs: REFRESH_MS,
      notice,
    });
    const back = backOf(path, url.searchParams);
    const now = Date.now();

    if (path === '/ui/workers') {
      const filter = { name: url.searchParams.get('name') ?? '', queue: url.searchParams.get('queue') ?? '', state: url.searchParams.get('state') ?? '' };
      const workers = (await allWorkers(filter.state)).filter(
        (w) => (!filter.name || w.name.toLowerCase().includes(filter.name.toLowerCase())) && (!filter.queue || w.queues.includes(filter.queue)),
      );
      return page(res, 200, frame('Workers', 'workers'), workersBody({ workers, filter, csrf, back, now, staleAfterMs }));
    }
    if (path === '/ui/jobs') {
      const filter = { state: url.searchParams.get('state') ?? '', queue: url.searchParams.get('queue') ?? '', worker: url.searchParams.get('worker') ?? '' };
      const pageToken = url.searchParams.get('page') ?? '';
      const state = filter.state ? JobState[filter.state as keyof typeof JobState] : undefined;
      try {
        const r = await api.jobs.listJobs({
          pageSize: JOBS_PAGE_SIZE,
          pageToken,
          queue: filter.queue,
          workerName: filter.worker,
          states: state !== undefined && typeof state === 'number' ? [state] : [],
        });
        return page(res, 200, frame('Jobs', 'jobs'), jobsBody({ jobs: r.jobs, filter, pageToken, nextPageToken: r.nextPageToken, csrf, back, now }));
      } catch (err) {
        if (!(err instanceof ConnectError) || err.code !== Code.InvalidArgument) throw err;
        const f = { ...frame('Jobs', 'jobs'), notice: { text: messageOf(err), error: true } };
        return page(res, 400, f, jobsBody({ jobs: [], filter, pageToken: '', nextPageToken: '', csrf, back, now }));
      }
    }
    if (path === '/ui/queues') {
      const [queues, workers] = await Promise.all([allQueues(), allWorkers('')]);
      return page(res, 200, frame('Queues', 'queues'), queuesBody({ queues, workers, now }));
    }
    const m = /^\/ui\/jobs\/([^/]+)(\/log\.txt|\/log\/stream)?$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[1]!);
      if (m[2] === '/log.txt') return downloadLog(res, id, Number(url.searchParams.get('attempt') ?? 0));
      if (m[2] === '/log/stream') return streamLog(req, res, id);
      try {
        const [{ job }, { attempts }] = await Promise.all([api.jobs.getJob({ id }), api.jobs.listJobAttempts({ jobId: id, pageSize: 1000 })]);
        return page(res, 200, { ...frame(`Job ${id}`, 'jobs'), refreshMs: REFRESH_MS }, jobBody({ job: job!, attempts, csrf, back, now }));
      } catch (err) {
        if (err instanceof ConnectError && (err.code === Code.NotFound || err.code === Code.InvalidArgument)) {
          return send(res, 404, 'text/plain; charset=utf-8', `${messageOf(err)}\n`);
        }
        throw err;
      }
    }
    return send(res, 404, 'text/plain', `${path} not found\n`);
  }

  // ------------------------------------------------------------ actions (through the API's own handlers)

  async function workerAction(form: URLSearchParams): Promise<{ text: string; error: boolean }> {
    const name = form.get('name') ?? '';
    const action = form.get('action');
    const comment = form.get('comment') ?? '';
    const queue = (form.get('queue') ?? '').trim();
    switch (action) {
      case 'maintenance-on':
        await api.workers.setWorkerMaintenance({ name, change: MaintenanceChange.ENTER, comment, author: 'web UI' });
        return ok(`${name}: maintenance requested`);
      case 'maintenance-comment':
        await api.workers.setWorkerMaintenance({ name, change: MaintenanceChange.COMMENT, comment, author: 'web UI' });
        return ok(`${name}: maintenance comment changed`);
      case 'maintenance-off':
        await api.workers.setWorkerMaintenance({ name, change: MaintenanceChange.EXIT, comment: '', author: 'web UI' });
        return ok(`${name}: leaving maintenance`);
      case 'add-queue':
        await api.workers.updateWorker({ name, addQueues: [queue], removeQueues: [] });
        return ok(`${name}: now serves queue ${queue}`);
      case 'remove-queue':
        await api.workers.updateWorker({ name, addQueues: [], removeQueues: [queue] });
        return ok(`${name}: no longer serves queue ${queue}`);
      case 'concurrency': {
        const n = Number(form.get('concurrency'));
        await api.workers.updateWorker({ name, addQueues: [], removeQueues: [], concurrency: Number.isInteger(n) ? n : 0 });
        return ok(`${name}: concurrency ${n}`);
      }
      case 'shutdown':
        await api.workers.shutdownWorker({ name });
        return ok(`${name}: shutdown requested; it finishes its running jobs first`);
      case 'remove':
        await api.workers.removeWorker({ name });
        return ok(`${name}: removed`);
      default:
        return { text: `unknown action ${action ?? ''}`, error: true };
    }
  }

  /** Applies one action to every selected worker; reports each failure, never stops at the first. */
  async function bulkAction(form: URLSearchParams): Promise<{ text: string; error: boolean }> {
    const names = [...new Set(form.getAll('names'))];
    const action = form.get('action');
    if (action !== 'shutdown' && action !== 'remove') return { text: `unknown action ${action ?? ''}`, error: true };
    if (!names.length) return { text: 'select at least one worker', error: true };
    const results = await Promise.all(
      names.map(async (name) => {
        try {
          if (action === 'shutdown') await api.workers.shutdownWorker({ name });
          else await api.workers.removeWorker({ name });
          return { name, error: undefined };
        } catch (err) {
          return { name, error: messageOf(err) };
        }
      }),
    );
    const failed = results.filter((r) => r.error);
    const done = results.filter((r) => !r.error).map((r) => r.name);
    const verb = action === 'shutdown' ? 'shutdown requested' : 'removed';
    const lines = [`${done.length} of ${names.length} ${verb}${done.length ? `: ${done.join(', ')}` : ''}`];
    for (const f of failed) lines.push(`${f.name} failed: ${f.error}`);
    return { text: lines.join('\n'), error: failed.length > 0 };
  }

  async function cancelJob(form: URLSearchParams): Promise<{ text: string; error: boolean }> {
    const id = form.get('id') ?? '';
    const { job } = await api.jobs.cancelJob({ id });
    const st = JobState[job!.state];
    return ok(st === 'CANCELED' ? `job ${id} canceled` : `job ${id}: cancel sent to its worker (${st})`);
  }

  // ------------------------------------------------------------ data

  async function allWorkers(state: string): Promise<Worker[]> {
    const wanted = state ? WorkerState[state as keyof typeof WorkerState] : undefined;
    const states = typeof wanted === 'number' ? [wanted] : [];
    const out: Worker[] = [];
    let pageToken = '';
    do {
      const r = await api.workers.listWorkers({ pageSize: 1000, pageToken, states });
      out.push(...r.workers);
      pageToken = r.nextPageToken;
    } while (pageToken);
    return out;
  }

  async function allQueues() {
    const out = [];
    let pageToken = '';
    do {
      const r = await api.jobs.listQueueStats({ pageSize: 1000, pageToken });
      out.push(...r.queues);
      pageToken = r.nextPageToken;
    } while (pageToken);
    return out;
  }

  // ------------------------------------------------------------ logs

  /** The whole log of an attempt (0: the current one), read in 1 MiB pieces. */
  async function downloadLog(res: Response, id: string, attempt: number) {
    let offset = 0n;
    let first = true;
    for (;;) {
      const r = await api.logs.readLogs({ jobId: id, attempt: Number.isInteger(attempt) && attempt >= 0 ? attempt : 0, offset, maxBytes: 1024 * 1024 });
      if (first) {
        res.writeHead(200, {
          'content-type': 'text/plain; charset=utf-8',
          'content-disposition': `attachment; filename="job-${id.replace(/[^\w.-]/g, '_')}-attempt-${r.attempt}.log"`,
          'cache-control': 'no-store',
          ...SECURITY_HEADERS,
        });
        first = false;
      }
      if (r.data.length) res.write(r.data);
      if (!r.data.length || r.nextOffset >= r.size) break;
      offset = r.nextOffset;
    }
    res.end();
  }

  /**
   * Server-sent events following the job's log (LogService.TailLogs): `chunk` events with text,
   * `restart` when a retry begins, `end` once the job has ended and every byte was sent. A browser
   * that reconnects resumes from the last event id (attempt:offset).
   */
  async function streamLog(req: Request, res: Response, id: string) {
    const last = /^(\d+):(\d+)$/.exec(String(req.headers['last-event-id'] ?? ''));
    let offset = last ? BigInt(last[2]!) : 0n;
    let attempt = last ? Number(last[1]) : 0;
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    const onShutdown = () => abort.abort();
    shutdownSignal?.addEventListener('abort', onShutdown, { once: true });
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', ...SECURITY_HEADERS });
    res.write(': edge log stream\n\n');
    const decoder = new TextDecoder('utf-8');
    try {
      for await (const m of api.logs.tailLogs({ jobId: id, offset, attempt: 0 }, { signal: abort.signal })) {
        if (attempt && m.attempt !== attempt) res.write(`event: restart\ndata: ${JSON.stringify({ attempt: m.attempt })}\n\n`);
        attempt = m.attempt;
        offset = m.offset + BigInt(m.data.length);
        const text = decoder.decode(m.data, { stream: true });
        res.write(`id: ${attempt}:${offset}\nevent: chunk\ndata: ${JSON.stringify({ text, next: String(offset) })}\n\n`);
      }
      const rest = decoder.decode();
      if (rest) res.write(`event: chunk\ndata: ${JSON.stringify({ text: rest, next: String(offset) })}\n\n`);
      res.write('event: end\ndata: {}\n\n');
    } catch (err) {
      if (!abort.signal.aborted) res.write(`event: failure\ndata: ${JSON.stringify({ message: messageOf(err) })}\n\n`);
    } finally {
      shutdownSignal?.removeEventListener('abort', onShutdown);
    }
    res.end();
  }
}

// ------------------------------------------------------------ helpers

const ok = (text: string) => ({ text, error: false });
const messageOf = (err: unknown) => (err instanceof ConnectError ? err.rawMessage : (err as Error)?.message ?? String(err));

/** Only paths of this site's pages, so that a form cannot send the browser elsewhere. */
function localPath(p: string | null | undefined): string {
  if (!p || !p.startsWith('/ui/') || p.startsWith('//') || /[\\\r\n]/.test(p)) return '/ui/workers';
  return p;
}

function withNotice(back: string, notice: { text: string; error: boolean }, session: string): string {
  const u = new URL(back, 'http://host');
  const text = notice.text.slice(0, 2000);
  u.searchParams.set('notice', text);
  if (notice.error) u.searchParams.set('error', '1');
  else u.searchParams.delete('error');
  u.searchParams.set('sig', noticeSignature(session, text, notice.error));
  return u.pathname + u.search;
}

function send(res: Response, status: number, type: string, body: string) {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', ...SECURITY_HEADERS });
  res.end(body);
}

function page(res: Response, status: number, frame: PageFrame, body: Parameters<typeof layout>[1]) {
  send(res, status, 'text/html; charset=utf-8', layout(frame, body));
}

function asset(res: Response, type: string, body: string) {
  res.writeHead(200, { 'content-type': type, 'cache-control': 'public, max-age=300', 'x-content-type-options': 'nosniff' });
  res.end(body);
}

function redirect(res: Response, location: string) {
  res.writeHead(303, { location, 'cache-control': 'no-store' });
  res.end();
}

async function readForm(req: Request): Promise<URLSearchParams> {
  const type = String(req.headers['content-type'] ?? '');
  if (!type.startsWith('application/x-www-form-urlencoded')) throw new ConnectError('forms only', Code.InvalidArgument);
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_FORM_BYTES) throw new ConnectError('form too large', Code.ResourceExhausted);
    chunks.push(chunk);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}
