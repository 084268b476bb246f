import { Code, ConnectError } from '@connectrpc/connect';
import { JobState } from '../../gen/edge/v1/job_pb.js';
import type { ServiceContext } from '../services/context.js';
import { CSS, JS } from './assets.js';
import type { PageFrame } from './layout.js';
import type { PageAuth } from '../auth/page-auth.js';
import { clearedCookie, COOKIE, crossSite, csrfMatches, csrfToken, noticeMatches, readCookie, sessionCookie } from './session.js';
import { backOf, jobBody, jobsBody, queuesBody, signInBody, workersBody } from './views.js';
import { allQueues, allWorkers, pageApi } from './page-api.js';
import { bulkAction, cancelJob, workerAction } from './actions.js';
import { downloadLog, streamLog } from './log-pages.js';
import { asset, localPath, messageOf, page, readForm, redirect, send, withNotice, type Notice, type Request, type Response } from './respond.js';

const REFRESH_MS = 2000;
const JOBS_PAGE_SIZE = 50;

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
 * This module is the router; the pages' parts sit beside it (views, actions, log-pages, respond).
 * Returns a handler that answers requests under `/ui/` (and `/`) and says whether it did.
 */
export function webUi({ ctx, auth, log, shutdownSignal }: WebUiOptions) {
  const { api, signedInAs } = pageApi(ctx, log);
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
      let notice: Notice;
      try {
        if (path === '/ui/workers/action') notice = await workerAction(api, form);
        else if (path === '/ui/workers/bulk') notice = await bulkAction(api, form);
        else if (path === '/ui/jobs/cancel') notice = await cancelJob(api, form);
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
      const workers = (await allWorkers(api, filter.state)).filter(
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
      const [queues, workers] = await Promise.all([allQueues(api), allWorkers(api, '')]);
      return page(res, 200, frame('Queues', 'queues'), queuesBody({ queues, workers, now }));
    }
    const m = /^\/ui\/jobs\/([^/]+)(\/log\.txt|\/log\/stream)?$/.exec(path);
    if (m) {
      const id = decodeURIComponent(m[1]!);
      if (m[2] === '/log.txt') return downloadLog(api, res, id, Number(url.searchParams.get('attempt') ?? 0));
      if (m[2] === '/log/stream') return streamLog(api, req, res, id, shutdownSignal);
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
}
