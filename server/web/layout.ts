import { html, raw, type Html } from './html.js';

export interface PageFrame {
  title: string;
  /** Which nav entry is current. */
  here?: 'workers' | 'jobs' | 'queues';
  /** The session's CSRF token; absent on the sign-in page. */
  csrf?: string;
  notice?: { text: string; error: boolean };
  /** How often the page refreshes its live parts (0: never). */
  refreshMs?: number;
}

const NAV: [NonNullable<PageFrame['here']>, string, string][] = [
  ['workers', '/ui/workers', 'Workers'],
  ['jobs', '/ui/jobs', 'Jobs'],
  ['queues', '/ui/queues', 'Queues'],
];

export function layout(frame: PageFrame, body: Html): string {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${frame.title} · Edge Executor</title>
<link rel="stylesheet" href="/ui/assets/app.css">
<script src="/ui/assets/app.js" defer></script>
</head>
<body data-refresh-ms="${frame.refreshMs ?? 0}">
<header>
<span class="brand">Edge Executor</span>
${frame.csrf ? NAV.map(([key, href, label]) => html`<a href="${href}" class="${frame.here === key ? 'here' : ''}">${label}</a>`) : ''}
${frame.csrf ? html`<form method="post" action="/ui/signout"><input type="hidden" name="csrf" value="${frame.csrf}"><button type="submit">Sign out</button></form>` : ''}
</header>
<main>
${frame.notice ? html`<div class="notice${frame.notice.error ? ' error' : ''}" role="status" id="notice">${frame.notice.text}</div>` : ''}
${body}
</main>
</body>
</html>
`.text;
}

export const badge = (state: string) => html`<span class="badge b-${state}" data-state="${state}">${state}</span>`;

/** A small POST form carrying the CSRF token and where to come back to. */
export function actionForm(action: string, csrf: string, back: string, fields: Html, opts: { confirm?: string; cls?: string; id?: string } = {}): Html {
  return html`<form${opts.id ? html` id="${opts.id}"` : raw('')} class="${opts.cls ?? 'inline'}" method="post" action="${action}"${opts.confirm ? html` data-confirm="${opts.confirm}"` : raw('')}><input type="hidden" name="csrf" value="${csrf}"><input type="hidden" name="back" value="${back}">${fields}</form>`;
}
