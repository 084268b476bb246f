import { timestampMs, type Timestamp } from '@bufbuild/protobuf/wkt';
import { JobState, type Job, type JobAttempt } from '../../gen/edge/v1/job_pb.js';
import type { QueueStats } from '../../gen/edge/v1/job_service_pb.js';
import { WorkerState, type Worker } from '../../gen/edge/v1/worker_pb.js';
import { JOB_STATES, WORKER_STATES } from '../domain/records.js';
import { html, type Html } from './html.js';
import { age, mib } from '../../shared/units.js';
import { actionForm, badge } from './layout.js';

const ms = (t: Timestamp | undefined) => (t ? timestampMs(t) : undefined);
const jobState = (s: JobState) => JobState[s] ?? String(s);
const workerState = (s: WorkerState) => WorkerState[s] ?? String(s);
const TERMINAL = new Set([JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELED]);
const GONE = new Set([WorkerState.OFFLINE, WorkerState.UNKNOWN]);
const shortId = (id: string) => id.slice(-12);
const link = (href: string, text: string) => html`<a href="${href}">${text}</a>`;
export const jobHref = (id: string) => `/ui/jobs/${encodeURIComponent(id)}`;
export const backOf = (path: string, query: URLSearchParams) => {
  const q = new URLSearchParams(query);
  q.delete('notice');
  q.delete('error');
  q.delete('sig');
  const s = q.toString();
  return s ? `${path}?${s}` : path;
};

function options(values: readonly string[], selected: string, all: string): Html {
  return html`<option value="">${all}</option>${values.map((v) => html`<option value="${v}"${selected === v ? html` selected` : ''}>${v}</option>`)}`;
}

// ---------------------------------------------------------------- sign-in

export function signInBody(failed: boolean, next: string): Html {
  return html`<form class="signin" method="post" action="/ui/signin">
<h1>Sign in</h1>
${failed ? html`<p class="notice error">That token is not an admin token.</p>` : ''}
<label for="token">Admin token</label>
<input id="token" name="token" type="password" autocomplete="current-password" required autofocus>
<input type="hidden" name="next" value="${next}">
<button class="primary" type="submit">Sign in</button>
</form>`;
}

// ---------------------------------------------------------------- workers

export interface WorkersView {
  workers: Worker[];
  filter: { name: string; queue: string; state: string };
  csrf: string;
  back: string;
  now: number;
  staleAfterMs: number;
}

export function workersBody(v: WorkersView): Html {
  const { csrf, back, now } = v;
  const rows = v.workers.map((w) => {
    const st = workerState(w.state);
    const hb = ms(w.lastHeartbeatTime);
    const stale = hb !== undefined && now - hb > v.staleAfterMs && !GONE.has(w.state);
    const si = w.systemInfo;
    const name = w.name;
    const nameField = html`<input type="hidden" name="name" value="${name}">`;
    const live = !GONE.has(w.state);
    const actions: Html[] = [];
    if (!w.maintenance) {
      if (live) {
        actions.push(actionForm('/ui/workers/action', csrf, back, html`${nameField}<input type="hidden" name="action" value="maintenance-on"><input name="comment" class="short" placeholder="why (required)" required aria-label="maintenance comment"><button type="submit">Enter maintenance</button>`));
      }
    } else {
      actions.push(actionForm('/ui/workers/action', csrf, back, html`${nameField}<input type="hidden" name="action" value="maintenance-comment"><input name="comment" class="short" value="${w.maintenanceComment?.text ?? ''}" required aria-label="maintenance comment"><button type="submit">Edit comment</button>`));
      actions.push(actionForm('/ui/workers/action', csrf, back, html`${nameField}<input type="hidden" name="action" value="maintenance-off"><button type="submit">Exit maintenance</button>`));
    }
    actions.push(actionForm('/ui/workers/action', csrf, back, html`${nameField}<input type="hidden" name="action" value="add-queue"><input name="queue" class="short" placeholder="queue" required aria-label="queue to add"><button type="submit">Add queue</button>`));
    actions.push(actionForm('/ui/workers/action', csrf, back, html`${nameField}<input type="hidden" name="action" value="concurrency"><input name="concurrency" type="number" min="1" max="1024" value="${w.concurrency}" aria-label="concurrency"><button type="submit">Set concurrency</button>`));
    if (live && !w.shutdownRequested) {
      actions.push(actionForm('/ui/workers/action', csrf, back, html`${nameField}<input type="hidden" name="action" value="shutdown"><button class="danger" type="submit">Shut down</button>`, { confirm: `Shut down worker ${name}? It finishes its running jobs, then exits.` }));
    }
    if (!live) {
      actions.push(actionForm('/ui/workers/action', csrf, back, html`${nameField}<input type="hidden" name="action" value="remove"><button class="danger" type="submit">Remove</button>`, { confirm: `Forget worker ${name}?` }));
    }
    const queues = w.queues.map((q) =>
      actionForm('/ui/workers/action', csrf, back, html`${nameField}<input type="hidden" name="action" value="remove-queue"><input type="hidden" name="queue" value="${q}"><a href="/ui/jobs?queue=${encodeURIComponent(q)}">${q}</a><button type="submit" title="stop serving ${q}" aria-label="remove queue ${q}">×</button>`),
    );
    return html`<tr data-worker="${name}">
<td data-label="Select"><input type="checkbox" name="names" value="${name}" form="bulk" aria-label="select ${name}"></td>
<td data-label="Name"><strong>${name}</strong><div class="muted">${si?.hostname && si.hostname !== name ? si.hostname : ''}</div></td>
<td data-label="State">${badge(st)}${w.maintenanceComment?.text ? html`<div class="muted maintenance-comment">“${w.maintenanceComment.text}” — ${w.maintenanceComment.author}</div>` : ''}${w.shutdownRequested ? html`<div class="muted">shutdown requested</div>` : ''}</td>
<td data-label="Queues" class="queues">${queues}</td>
<td data-label="Slots" class="slots">${w.usedSlots} / ${w.concurrency}</td>
<td data-label="Running jobs">${w.jobIds.length ? w.jobIds.map((id) => html`<div>${link(jobHref(id), shortId(id))}</div>`) : html`<span class="muted">none</span>`}</td>
<td data-label="First online" title="${new Date(ms(w.firstOnlineTime) ?? 0).toISOString()}">${age(ms(w.firstOnlineTime), now)} ago</td>
<td data-label="Last heartbeat" class="${stale ? 'stale heartbeat' : 'heartbeat'}">${age(hb, now)} ago${stale ? ' (stale)' : ''}</td>
<td data-label="Version">${w.version}</td>
<td data-label="System" class="metrics">${si ? html`<div class="cpu">CPU ${si.cpuPercent.toFixed(0)}% of ${si.cpuCount}</div><div class="mem">mem ${mib(si.memoryTotalMib - si.memoryAvailableMib)} / ${mib(si.memoryTotalMib)}</div><div class="disk">disk free ${mib(si.diskFreeMib)} / ${mib(si.diskTotalMib)}</div><div class="load">load ${si.loadAverage.map((l) => l.toFixed(2)).join(' ')}</div>` : html`<span class="muted">no report yet</span>`}</td>
<td data-label="Actions"><details><summary>Actions</summary>${actions}</details></td>
</tr>`;
  });
  return html`<h1>Workers</h1>
<form class="filters" method="get" action="/ui/workers">
<label>Name<input name="name" value="${v.filter.name}" class="short"></label>
<label>Queue<input name="queue" value="${v.filter.queue}" class="short"></label>
<label>State<select name="state">${options(WORKER_STATES, v.filter.state, 'any')}</select></label>
<button type="submit">Filter</button>
</form>
${actionForm('/ui/workers/bulk', csrf, back, html`<button type="submit" name="action" value="shutdown" class="danger">Shut down selected</button> <button type="submit" name="action" value="remove" class="danger">Remove selected</button>`, { confirm: 'Apply to every selected worker?', cls: 'filters', id: 'bulk' })}
<div class="scroll" id="workers-table" data-live>
<table class="cards">
<thead><tr><th><input type="checkbox" data-select-all="names" aria-label="select all"></th><th>Name</th><th>State</th><th>Queues</th><th>Slots</th><th>Running jobs</th><th>First online</th><th>Last heartbeat</th><th>Version</th><th>System</th><th></th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="11" class="muted">No worker matches.</td></tr>`}</tbody>
</table>
</div>`;
}

// ---------------------------------------------------------------- jobs

export interface JobsView {
  jobs: Job[];
  filter: { state: string; queue: string; worker: string };
  nextPageToken: string;
  pageToken: string;
  csrf: string;
  back: string;
  now: number;
}

function cancelForm(job: Job, csrf: string, back: string): Html {
  if (TERMINAL.has(job.state)) return html``;
  return actionForm('/ui/jobs/cancel', csrf, back, html`<input type="hidden" name="id" value="${job.id}"><button class="danger" type="submit">Cancel</button>`, { confirm: `Cancel job ${job.id}?` });
}

const exitOf = (j: { exitCode?: number; signal: string }) => (j.exitCode !== undefined ? String(j.exitCode) : j.signal || '');

export function jobsBody(v: JobsView): Html {
  const { csrf, back, now } = v;
  const rows = v.jobs.map((j) => {
    const spec = j.spec!;
    return html`<tr data-job="${j.id}">
<td data-label="Id">${link(jobHref(j.id), shortId(j.id))}</td>
<td data-label="Queue">${spec.queue}</td>
<td data-label="State">${badge(jobState(j.state))}</td>
<td data-label="Worker">${j.workerName ? link(`/ui/jobs?worker=${encodeURIComponent(j.workerName)}`, j.workerName) : ''}</td>
<td data-label="Priority">${spec.priority}</td>
<td data-label="Slots">${spec.slots}</td>
<td data-label="Attempts">${j.attempt} / ${spec.maxAttempts}</td>
<td data-label="Submitted">${age(ms(j.createTime), now)} ago</td>
<td data-label="Started">${ms(j.startTime) ? `${age(ms(j.startTime), now)} ago` : ''}</td>
<td data-label="Ended">${ms(j.endTime) ? `${age(ms(j.endTime), now)} ago` : ''}</td>
<td data-label="Exit">${exitOf(j)}</td>
<td data-label="Reason" class="wrap muted">${j.reason}</td>
<td data-label="">${cancelForm(j, csrf, back)}</td>
</tr>`;
  });
  const q = (token: string) => {
    const p = new URLSearchParams();
    if (v.filter.state) p.set('state', v.filter.state);
    if (v.filter.queue) p.set('queue', v.filter.queue);
    if (v.filter.worker) p.set('worker', v.filter.worker);
    if (token) p.set('page', token);
    return `/ui/jobs?${p}`;
  };
  return html`<h1>Jobs</h1>
<form class="filters" method="get" action="/ui/jobs">
<label>State<select name="state">${options(JOB_STATES, v.filter.state, 'any')}</select></label>
<label>Queue<input name="queue" value="${v.filter.queue}" class="short"></label>
<label>Worker<input name="worker" value="${v.filter.worker}" class="short"></label>
<button type="submit">Filter</button>
</form>
<div class="scroll" id="jobs-table" data-live>
<table class="cards">
<thead><tr><th>Id</th><th>Queue</th><th>State</th><th>Worker</th><th>Priority</th><th>Slots</th><th>Attempts</th><th>Submitted</th><th>Started</th><th>Ended</th><th>Exit</th><th>Reason</th><th></th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="13" class="muted">No job matches.</td></tr>`}</tbody>
</table>
</div>
<div class="pager">${v.pageToken ? link(q(''), '« Newest') : ''}${v.nextPageToken ? html`<a href="${q(v.nextPageToken)}" rel="next">Older »</a>` : ''}</div>`;
}

// ---------------------------------------------------------------- one job

export interface JobView {
  job: Job;
  attempts: JobAttempt[];
  csrf: string;
  back: string;
  now: number;
}

const shellQuote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);

export function jobBody(v: JobView): Html {
  const { job, now } = v;
  const spec = job.spec!;
  const labels = Object.entries(spec.labels);
  const envNames = Object.keys(spec.env);
  const when = (t: Timestamp | undefined) => (ms(t) ? html`${age(ms(t), now)} ago <span class="muted">(${new Date(ms(t)!).toISOString()})</span>` : html`<span class="muted">—</span>`);
  return html`<h1>Job <code>${job.id}</code></h1>
<div id="job-summary" data-live>
<dl class="kv">
<dt>State</dt><dd id="job-state">${badge(jobState(job.state))} ${cancelForm(job, v.csrf, v.back)}</dd>
<dt>Command</dt><dd><code id="job-command">${spec.argv.map(shellQuote).join(' ')}</code></dd>
${spec.cwd ? html`<dt>Folder</dt><dd><code>${spec.cwd}</code></dd>` : ''}
${envNames.length ? html`<dt>Environment</dt><dd>${envNames.join(', ')} <span class="muted">(values not shown)</span></dd>` : ''}
${spec.secretEnvNames.length ? html`<dt>Secrets</dt><dd id="job-secrets">${spec.secretEnvNames.join(', ')} <span class="muted">(encrypted; masked in the log)</span></dd>` : ''}
<dt>Labels</dt><dd id="job-labels">${labels.length ? labels.map(([k, val]) => html`<span class="badge">${k}=${val}</span> `) : html`<span class="muted">none</span>`}</dd>
<dt>Queue</dt><dd>${spec.queue}</dd>
<dt>Worker</dt><dd>${job.workerName || html`<span class="muted">none yet</span>`}</dd>
<dt>Priority · slots</dt><dd>${spec.priority} · ${spec.slots}</dd>
<dt>Timeout</dt><dd>${spec.timeoutSeconds ? `${spec.timeoutSeconds} s` : 'none'}</dd>
<dt>Attempt</dt><dd>${job.attempt} of ${spec.maxAttempts}</dd>
<dt>Exit</dt><dd>${exitOf(job) || html`<span class="muted">—</span>`}</dd>
${job.reason ? html`<dt>Reason</dt><dd>${job.reason}</dd>` : ''}
<dt>Submitted</dt><dd>${when(job.createTime)}</dd>
<dt>Started</dt><dd>${when(job.startTime)}</dd>
<dt>Ended</dt><dd>${when(job.endTime)}</dd>
</dl>
<h2>Attempts</h2>
<div class="scroll"><table>
<thead><tr><th>#</th><th>Worker</th><th>State</th><th>Assigned</th><th>Started</th><th>Ended</th><th>Exit</th><th>Log</th><th>Reason</th></tr></thead>
<tbody>${v.attempts.length
    ? v.attempts.map((a) => html`<tr><td>${a.attempt}</td><td>${a.workerName}</td><td>${badge(jobState(a.state))}</td><td>${age(ms(a.assignTime), now)} ago</td><td>${ms(a.startTime) ? `${age(ms(a.startTime), now)} ago` : ''}</td><td>${ms(a.endTime) ? `${age(ms(a.endTime), now)} ago` : ''}</td><td>${exitOf(a)}</td><td><a href="${jobHref(job.id)}/log.txt?attempt=${a.attempt}">${String(a.logSize)} B</a></td><td class="wrap muted">${a.reason}</td></tr>`)
    : html`<tr><td colspan="9" class="muted">Not assigned yet.</td></tr>`}</tbody>
</table></div>
</div>
<h2>Log <a href="${jobHref(job.id)}/log.txt" download class="muted" id="log-download">download</a></h2>
<p class="muted" id="log-status">${TERMINAL.has(job.state) ? 'loading the complete log…' : 'following the log while the job runs…'}</p>
<pre class="log" id="log" data-stream="${jobHref(job.id)}/log/stream"></pre>`;
}

// ---------------------------------------------------------------- queues

export interface QueuesView {
  queues: QueueStats[];
  workers: Worker[];
  now: number;
}

export function queuesBody(v: QueuesView): Html {
  const serving = new Map<string, Worker[]>();
  for (const w of v.workers) {
    if (GONE.has(w.state)) continue;
    for (const q of w.queues) serving.set(q, [...(serving.get(q) ?? []), w]);
  }
  const rows = v.queues.map((q) => {
    const ws = serving.get(q.queue) ?? [];
    return html`<tr data-queue="${q.queue}">
<td data-label="Queue"><a href="/ui/jobs?queue=${encodeURIComponent(q.queue)}"><strong>${q.queue}</strong></a></td>
<td data-label="Queued">${q.queued}</td><td data-label="Assigned">${q.assigned}</td><td data-label="Running">${q.running}</td><td data-label="Succeeded">${q.succeeded}</td><td data-label="Failed">${q.failed}</td><td data-label="Canceled">${q.canceled}</td>
<td data-label="Oldest queued">${ms(q.oldestQueuedTime) ? `${age(ms(q.oldestQueuedTime), v.now)} ago` : ''}</td>
<td data-label="Workers serving it" class="wrap">${ws.length ? ws.map((w) => html`<div>${w.name} ${badge(workerState(w.state))} <span class="muted">${w.freeSlots} of ${w.concurrency} free</span></div>`) : html`<span class="muted">none live</span>`}</td>
<td data-label="Free slots">${q.freeSlots}</td>
<td data-label="Not takeable" class="wrap unplaceable">${q.unplaceableCount
      ? html`${q.unplaceable.map((u) => html`<div>${link(jobHref(u.jobId), shortId(u.jobId))} (${u.slots} slots): <span class="reason">${u.reason}</span></div>`)}${q.unplaceableCount > q.unplaceable.length ? html`<div class="muted">and ${q.unplaceableCount - q.unplaceable.length} more</div>` : ''}`
      : html`<span class="muted">none</span>`}</td>
</tr>`;
  });
  return html`<h1>Queues</h1>
<div class="scroll" id="queues-table" data-live>
<table class="cards">
<thead><tr><th>Queue</th><th>Queued</th><th>Assigned</th><th>Running</th><th>Succeeded</th><th>Failed</th><th>Canceled</th><th>Oldest queued</th><th>Workers serving it</th><th>Free slots</th><th>Jobs no live worker can take</th></tr></thead>
<tbody>${rows.length ? rows : html`<tr><td colspan="11" class="muted">No queue has jobs or workers.</td></tr>`}</tbody>
</table>
</div>`;
}
