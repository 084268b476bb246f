import { toJson, type DescMessage, type MessageShape } from '@bufbuild/protobuf';
import { timestampDate, type Timestamp } from '@bufbuild/protobuf/wkt';
import { JobState, type Job } from '../../../gen/edge/v1/job_pb.js';

/** Messages as the proto3 JSON mapping prints them (enums read as in grpcurl). */
export function messageJson<D extends DescMessage>(schema: D, message: MessageShape<D>): unknown {
  return toJson(schema, message, { alwaysEmitImplicit: false });
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export const jobStateName = (s: JobState): string => JobState[s] ?? String(s);

export function formatTime(t: Timestamp | undefined): string {
  return t ? timestampDate(t).toISOString() : '-';
}

/** A plain text table: columns padded to their widest cell. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}

export function describeJob(job: Job): string {
  const spec = job.spec!;
  const lines: [string, string][] = [
    ['id', job.id],
    ['state', jobStateName(job.state)],
    ['queue', spec.queue],
    ['command', JSON.stringify(spec.argv)],
    ...(spec.secretEnvNames.length ? [['secrets', `${spec.secretEnvNames.join(', ')} (values never shown)`] as [string, string]] : []),
    ['slots', String(spec.slots)],
    ['priority', String(spec.priority)],
    ['worker', job.workerName || '-'],
    ['attempt', `${job.attempt} of ${spec.maxAttempts}`],
    ['exit code', job.exitCode === undefined ? '-' : String(job.exitCode)],
    ['signal', job.signal || '-'],
    ['reason', job.reason || '-'],
    ['submitted', formatTime(job.createTime)],
    ['started', formatTime(job.startTime)],
    ['ended', formatTime(job.endTime)],
  ];
  return lines.map(([k, v]) => `${(k + ':').padEnd(11)} ${v}`).join('\n') + '\n';
}
