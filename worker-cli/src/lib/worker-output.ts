import { Flags } from '@oclif/core';
import { stringify } from 'yaml';
import { WorkerSchema, WorkerState, type Worker } from '../../../gen/edge/v1/worker_pb.js';
import { formatTime, messageJson, printJson, table } from './output.js';
import { mib } from '../../../shared/units.js';

/** How worker commands print: a table or text for people, JSON or YAML (proto3 JSON mapping) for scripts. */

export const outputFlags = {
  json: Flags.boolean({ description: 'same as -o json: one JSON document on stdout, nothing else' }),
  output: Flags.string({ char: 'o', description: 'output format', options: ['table', 'json', 'yaml'], default: 'table' }),
};

export type OutputFormat = 'table' | 'json' | 'yaml';
export const outputFormat = (flags: { json?: boolean; output: string }): OutputFormat => (flags.json ? 'json' : (flags.output as OutputFormat));

export const workerStateName = (s: WorkerState): string => WorkerState[s] ?? String(s);

/** Prints a message (or a list of them) as JSON or YAML; false when the format is the human one. */
export function printStructured(format: OutputFormat, value: unknown): boolean {
  if (format === 'json') printJson(value);
  else if (format === 'yaml') process.stdout.write(stringify(value));
  else return false;
  return true;
}

export const workerJson = (w: Worker) => messageJson(WorkerSchema, w);

export function workersTable(workers: Worker[]): string {
  return table(
    ['NAME', 'STATE', 'QUEUES', 'SLOTS', 'JOBS', 'VERSION', 'LAST HEARTBEAT', 'MAINTENANCE COMMENT'],
    workers.map((w) => [
      w.name,
      workerStateName(w.state),
      w.queues.join(','),
      `${w.usedSlots}/${w.concurrency}`,
      String(w.jobIds.length),
      w.version,
      formatTime(w.lastHeartbeatTime),
      w.maintenanceComment?.text.slice(0, 40) ?? '',
    ]),
  );
}

export function describeWorker(w: Worker): string {
  const s = w.systemInfo;
  const c = w.maintenanceComment;
  const lines: [string, string][] = [
    ['name', w.name],
    ['state', workerStateName(w.state)],
    ['queues', w.queues.join(', ')],
    ['concurrency', String(w.concurrency)],
    ['used slots', String(w.usedSlots)],
    ['free slots', String(w.freeSlots)],
    ['jobs', w.jobIds.join(', ') || '-'],
    ['version', w.version],
    ['maintenance', w.maintenance ? 'yes' : 'no'],
    ['comment', c ? `${c.text} (${c.author}, ${formatTime(c.time)})` : '-'],
    ['shutdown', w.shutdownRequested ? 'requested' : 'no'],
    ['started', formatTime(w.startTime)],
    ['first online', formatTime(w.firstOnlineTime)],
    ['heartbeat', formatTime(w.lastHeartbeatTime)],
  ];
  if (s) {
    lines.push(
      ['host', s.hostname],
      ['os', `${s.os} (${s.arch})`],
      ['node', s.nodeVersion],
      ['cpu', `${s.cpuPercent}% of ${s.cpuCount} CPUs`],
      ['load', s.loadAverage.join(' ')],
      ['memory', `${mib(s.memoryAvailableMib)} available of ${mib(s.memoryTotalMib)}`],
      ['disk', `${mib(s.diskFreeMib)} free of ${mib(s.diskTotalMib)}`],
    );
  }
  return lines.map(([k, v]) => `${(k + ':').padEnd(13)} ${v}`).join('\n') + '\n';
}
