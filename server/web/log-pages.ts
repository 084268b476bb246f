import type { PageApi } from './page-api.js';
import { messageOf, SECURITY_HEADERS, type Request, type Response } from './respond.js';

/** A job's log on the web: the download of one attempt, and the live stream the job page follows. */

/** The whole log of an attempt (0: the current one), read in 1 MiB pieces. */
export async function downloadLog(api: PageApi, res: Response, id: string, attempt: number) {
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
export async function streamLog(api: PageApi, req: Request, res: Response, id: string, shutdownSignal?: AbortSignal) {
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
