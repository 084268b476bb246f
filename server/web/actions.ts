import { JobState } from '../../gen/edge/v1/job_pb.js';
import { MaintenanceChange } from '../../gen/edge/v1/worker_service_pb.js';
import type { PageApi } from './page-api.js';
import { messageOf, ok, type Notice } from './respond.js';

/** The forms of the pages, each through the API's own handlers (so every rule is the API's). */

export async function workerAction(api: PageApi, form: URLSearchParams): Promise<Notice> {
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
export async function bulkAction(api: PageApi, form: URLSearchParams): Promise<Notice> {
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

export async function cancelJob(api: PageApi, form: URLSearchParams): Promise<Notice> {
  const id = form.get('id') ?? '';
  const { job } = await api.jobs.cancelJob({ id });
  const st = JobState[job!.state];
  return ok(st === 'CANCELED' ? `job ${id} canceled` : `job ${id}: cancel sent to its worker (${st})`);
}
