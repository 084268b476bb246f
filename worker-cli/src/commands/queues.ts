import { QueueStatsSchema, type QueueStats } from '../../../gen/edge/v1/job_service_pb.js';
import { timestampMs } from '@bufbuild/protobuf/wkt';
import { ApiCommand } from '../lib/api-command.js';
import { apiUrlFlag, jsonFlag } from '../lib/flags.js';
import { messageJson, printJson, table } from '../lib/output.js';
import { drainPages } from '../../../shared/paging.js';
import { age } from '../../../shared/units.js';

export default class Queues extends ApiCommand {
  static override description = `Show every queue: jobs by state, how long the oldest queued job waits, the live workers
serving it and their free slots, and queued jobs that no live worker can take (and why).`;
  static override examples = ['<%= config.bin %> queues', '<%= config.bin %> queues --json'];
  static override flags = { 'api-url': apiUrlFlag, json: jsonFlag };

  async run(): Promise<void> {
    const { flags } = await this.parse(Queues);
    const api = this.connect(flags['api-url']);
    const queues: QueueStats[] = await drainPages(async (pageToken) => {
      const res = await api.jobs.listQueueStats({ pageSize: 1000, pageToken });
      return { items: res.queues, next: res.nextPageToken };
    });
    if (flags.json) return printJson(queues.map((q) => messageJson(QueueStatsSchema, q)));
    const now = Date.now();
    process.stdout.write(
      table(
        ['QUEUE', 'QUEUED', 'ASSIGNED', 'RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELED', 'OLDEST', 'WORKERS', 'FREE SLOTS'],
        queues.map((q) => [
          q.queue,
          String(q.queued),
          String(q.assigned),
          String(q.running),
          String(q.succeeded),
          String(q.failed),
          String(q.canceled),
          q.oldestQueuedTime ? age(timestampMs(q.oldestQueuedTime), now, true) : '-',
          String(q.workers),
          String(q.freeSlots),
        ]),
      ),
    );
    for (const q of queues) {
      if (!q.unplaceableCount) continue;
      process.stdout.write(`\n${q.unplaceableCount} job(s) of queue ${q.queue} cannot run on any live worker:\n`);
      for (const u of q.unplaceable) process.stdout.write(`  ${u.jobId}  ${u.reason}\n`);
    }
  }
}
