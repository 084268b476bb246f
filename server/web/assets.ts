/**
 * The pages' only static files, served by the server itself (no CDN, nothing fetched at run time).
 * Kept as strings so that the build copies nothing and a single dist/ runs anywhere.
 */

export const CSS = `
:root { --fg:#1d2330; --muted:#667085; --line:#e4e7ec; --bg:#f7f8fa; --accent:#2a5bd7; --bad:#c0362c; --warn:#b86e00; --ok:#16794c; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color:var(--fg); background:var(--bg); }
header { display:flex; flex-wrap:wrap; align-items:center; gap:.25rem 1rem; padding:.6rem 1rem; background:#1d2330; color:#fff; }
header a { color:#cfd8ea; text-decoration:none; padding:.2rem .4rem; border-radius:4px; }
header a.here { color:#fff; background:#34405a; }
header .brand { font-weight:600; color:#fff; margin-right:.5rem; }
header form { margin-left:auto; }
main { padding:1rem; max-width:1400px; margin:0 auto; }
h1 { font-size:1.25rem; margin:.2rem 0 .8rem; }
h2 { font-size:1.05rem; margin:1.2rem 0 .5rem; }
.scroll { overflow-x:auto; background:#fff; border:1px solid var(--line); border-radius:6px; }
table { border-collapse:collapse; width:100%; }
th, td { text-align:left; padding:.4rem .55rem; border-bottom:1px solid var(--line); vertical-align:top; white-space:nowrap; }
th { font-weight:600; color:var(--muted); font-size:12px; text-transform:uppercase; letter-spacing:.02em; }
td.wrap { white-space:normal; min-width:12rem; }
tr:last-child td { border-bottom:0; }
.badge { display:inline-block; padding:.05rem .45rem; border-radius:999px; font-size:12px; font-weight:600; background:#eef1f6; color:#344054; }
.b-IDLE, .b-SUCCEEDED { background:#e3f4ea; color:var(--ok); }
.b-RUNNING, .b-ASSIGNED, .b-STARTING { background:#e6eefc; color:var(--accent); }
.b-FAILED, .b-UNKNOWN { background:#fde8e6; color:var(--bad); }
.b-MAINTENANCE_REQUEST, .b-MAINTENANCE_PENDING, .b-MAINTENANCE_MODE, .b-MAINTENANCE_EXIT, .b-SHUTDOWN_REQUEST, .b-TERMINATING, .b-QUEUED { background:#fff3dc; color:var(--warn); }
.b-OFFLINE, .b-CANCELED { background:#eceef2; color:#475467; }
.stale { color:var(--bad); font-weight:600; }
.muted { color:var(--muted); }
.notice { padding:.5rem .75rem; border-radius:6px; background:#e6eefc; border:1px solid #c6d5f7; margin-bottom:.8rem; white-space:pre-wrap; }
.notice.error { background:#fde8e6; border-color:#f5c2bd; }
form.inline { display:inline-flex; gap:.25rem; margin:.1rem .2rem .1rem 0; align-items:center; }
.filters { display:flex; flex-wrap:wrap; gap:.5rem; align-items:end; margin-bottom:.8rem; }
.filters label { display:flex; flex-direction:column; font-size:12px; color:var(--muted); }
input, select, button { font:inherit; padding:.25rem .45rem; border:1px solid #c9ced8; border-radius:4px; background:#fff; }
input[type=number] { width:4.5rem; }
input.short { width:8rem; }
button { cursor:pointer; background:#f2f4f7; }
button.primary { background:var(--accent); border-color:var(--accent); color:#fff; }
button.danger { color:var(--bad); }
details > summary { cursor:pointer; color:var(--accent); }
details[open] { background:#fafbfc; padding:.3rem; border-radius:4px; }
pre.log { background:#0f1420; color:#dfe6f3; padding:.75rem; border-radius:6px; overflow:auto; max-height:60vh; min-height:6rem; font:12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; white-space:pre-wrap; word-break:break-all; }
dl.kv { display:grid; grid-template-columns:max-content 1fr; gap:.2rem 1rem; background:#fff; border:1px solid var(--line); border-radius:6px; padding:.6rem .8rem; }
dl.kv dt { color:var(--muted); } dl.kv dd { margin:0; word-break:break-word; }
code { font:12px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.pager { margin-top:.6rem; display:flex; gap:1rem; }
.signin { max-width:24rem; margin:3rem auto; background:#fff; border:1px solid var(--line); border-radius:8px; padding:1.2rem; }
.signin input { width:100%; margin:.3rem 0 .8rem; }
@media (max-width: 640px) {
  main { padding:.5rem; }
  th, td { padding:.3rem .4rem; }
  header form { margin-left:0; }
  /* Tables become one card per row: a label column and a value column. */
  table.cards thead { display:none; }
  table.cards tr { display:block; border-bottom:1px solid var(--line); padding:.3rem 0; }
  table.cards td { display:block; position:relative; border:0; white-space:normal; padding:.15rem .6rem .15rem 8.6rem; min-width:0; min-height:1.6rem; }
  table.cards td::before { content:attr(data-label); position:absolute; left:.6rem; width:7.6rem; color:var(--muted); font-size:12px; line-height:1.9; }
  table.cards td[data-label=""]::before { content:none; }
  table.cards td.wrap { min-width:0; }
}
`;

export const JS = `
'use strict';
(function () {
  // Forms that ask first ("Shut down worker-1?").
  document.addEventListener('submit', function (e) {
    var msg = e.target.getAttribute && e.target.getAttribute('data-confirm');
    if (msg && !window.confirm(msg)) e.preventDefault();
  }, true);
  // Bulk selection: a checkbox that checks every row.
  document.addEventListener('change', function (e) {
    var t = e.target;
    if (t.matches && t.matches('input[data-select-all]')) {
      document.querySelectorAll('input[name="' + t.getAttribute('data-select-all') + '"]').forEach(function (c) { c.checked = t.checked; });
    }
  });

  // Pages update by themselves: every element with data-live is replaced by its fresh version,
  // unless the user is busy with it (typing in a field, an open editor).
  var every = Number(document.body.getAttribute('data-refresh-ms') || 0);
  function busy(el) {
    var a = document.activeElement;
    return (a && el.contains(a) && /^(INPUT|SELECT|TEXTAREA)$/.test(a.tagName)) || el.querySelector('details[open]');
  }
  function refresh() {
    if (document.visibilityState !== 'visible') return schedule();
    fetch(location.href, { headers: { 'x-edge-refresh': '1' }, credentials: 'same-origin' })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : Promise.reject(r.status); })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, 'text/html');
        document.querySelectorAll('[data-live]').forEach(function (el) {
          var next = el.id && fresh.getElementById(el.id);
          if (!next || busy(el)) return;
          var checked = Array.prototype.map.call(el.querySelectorAll('input[type=checkbox]:checked'), function (c) { return c.name + '=' + c.value; });
          el.replaceWith(next);
          next.querySelectorAll('input[type=checkbox]').forEach(function (c) { if (checked.indexOf(c.name + '=' + c.value) >= 0) c.checked = true; });
        });
        document.body.setAttribute('data-refreshed', String(Date.now()));
      })
      .catch(function () {})
      .then(schedule);
  }
  function schedule() { if (every > 0) setTimeout(refresh, every); }
  schedule();

  // A job's log, streamed while the job runs (server-sent events), complete once it ends.
  var log = document.getElementById('log');
  if (log && log.getAttribute('data-stream')) {
    var status = document.getElementById('log-status');
    var decoder = null;
    var source = new EventSource(log.getAttribute('data-stream'));
    source.addEventListener('chunk', function (e) {
      var m = JSON.parse(e.data);
      var atEnd = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
      log.appendChild(document.createTextNode(m.text));
      log.setAttribute('data-offset', String(m.next));
      if (atEnd) log.scrollTop = log.scrollHeight;
    });
    source.addEventListener('restart', function (e) {
      log.textContent = '';
      if (status) status.textContent = 'attempt ' + JSON.parse(e.data).attempt + ' started: following it';
    });
    source.addEventListener('end', function () {
      source.close();
      log.setAttribute('data-complete', '1');
      if (status) status.textContent = 'complete: the job has ended';
    });
    source.addEventListener('failure', function (e) {
      source.close();
      if (status) status.textContent = 'the log cannot be read: ' + JSON.parse(e.data).message;
    });
    source.onerror = function () { if (status && !log.getAttribute('data-complete')) status.textContent = 'reconnecting…'; };
  }
})();
`;
