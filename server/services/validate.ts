import type { JobSpec } from '../../gen/edge/v1/job_pb.js';
import { DEFAULT_QUEUE, queueNameProblem, workerNameProblem } from '../../shared/names.js';
import type { JobSpecRecord } from '../domain/records.js';
import { invalid } from './errors.js';

/** Request checks. Each failure is an InvalidArgument that names the field and the problem. */

const LIMITS = {
  argvItems: 4096,
  argvBytes: 256 * 1024,
  mapEntries: 1024,
  mapBytes: 256 * 1024,
  keyLength: 1024,
  cwdLength: 4096,
  maxSlots: 1024,
  maxAttempts: 100,
  maxTimeoutSeconds: 366 * 24 * 3600,
  secretEntries: 64,
  secretValueBytes: 16 * 1024,
  secretBytes: 64 * 1024,
};

export function checkQueue(field: string, queue: string): string {
  const problem = queueNameProblem(queue);
  if (problem) throw invalid(`${field}: ${problem}`);
  return queue;
}

export function checkWorkerName(field: string, name: string): string {
  const problem = workerNameProblem(name);
  if (problem) throw invalid(`${field}: ${problem}`);
  return name;
}

export function checkId(field: string, id: string): string {
  if (!id) throw invalid(`${field} is required`);
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw invalid(`${field} "${id.slice(0, 64)}" is not a job id (a UUID)`);
  return id.toLowerCase();
}

export function checkRange(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) throw invalid(`${field} must be between ${min} and ${max}, got ${value}`);
  return value;
}

function checkNoNul(field: string, s: string): void {
  if (s.includes('\0')) throw invalid(`${field} must not contain NUL characters`);
}

function checkStringMap(field: string, map: Record<string, string>, keyRule?: (k: string) => string | undefined): void {
  const entries = Object.entries(map);
  if (entries.length > LIMITS.mapEntries) throw invalid(`${field} has ${entries.length} entries; the limit is ${LIMITS.mapEntries}`);
  let bytes = 0;
  for (const [k, v] of entries) {
    if (!k) throw invalid(`${field} has an empty key`);
    if (k.length > LIMITS.keyLength) throw invalid(`${field} key "${k.slice(0, 40)}…" is longer than ${LIMITS.keyLength} characters`);
    const problem = keyRule?.(k);
    if (problem) throw invalid(`${field} key "${k.slice(0, 40)}" ${problem}`);
    checkNoNul(`${field}["${k.slice(0, 40)}"]`, k + v);
    bytes += k.length + v.length;
  }
  if (bytes > LIMITS.mapBytes) throw invalid(`${field} holds ${bytes} bytes; the limit is ${LIMITS.mapBytes}`);
}

/** Checks a submitted spec and fills in its defaults. */
export function checkJobSpec(spec: JobSpec | undefined, field = 'spec'): JobSpecRecord {
  if (!spec) throw invalid(`${field} is required`);
  const queue = checkQueue(`${field}.queue`, spec.queue || DEFAULT_QUEUE);
  if (spec.argv.length === 0) throw invalid(`${field}.argv is empty: a job needs a command to run`);
  if (!spec.argv[0]) throw invalid(`${field}.argv[0] is empty: a job needs a command to run`);
  if (spec.argv.length > LIMITS.argvItems) throw invalid(`${field}.argv has ${spec.argv.length} items; the limit is ${LIMITS.argvItems}`);
  let argvBytes = 0;
  spec.argv.forEach((a, i) => {
    checkNoNul(`${field}.argv[${i}]`, a);
    argvBytes += a.length;
  });
  if (argvBytes > LIMITS.argvBytes) throw invalid(`${field}.argv holds ${argvBytes} bytes; the limit is ${LIMITS.argvBytes}`);
  checkStringMap(`${field}.env`, spec.env, (k) => (k.includes('=') ? 'must not contain "="' : undefined));
  checkStringMap(`${field}.labels`, spec.labels);
  const secretEnvNames = Object.keys(checkSecretEnv(spec, field)).sort();
  if (spec.cwd.length > LIMITS.cwdLength) throw invalid(`${field}.cwd is longer than ${LIMITS.cwdLength} characters`);
  checkNoNul(`${field}.cwd`, spec.cwd);
  return {
    queue,
    argv: [...spec.argv],
    env: { ...spec.env },
    cwd: spec.cwd,
    slots: spec.slots === 0 ? 1 : checkRange(`${field}.slots`, spec.slots, 1, LIMITS.maxSlots),
    priority: spec.priority,
    timeoutSeconds: checkRange(`${field}.timeout_seconds`, spec.timeoutSeconds, 0, LIMITS.maxTimeoutSeconds),
    maxAttempts: spec.maxAttempts === 0 ? 1 : checkRange(`${field}.max_attempts`, spec.maxAttempts, 1, LIMITS.maxAttempts),
    labels: { ...spec.labels },
    ...(secretEnvNames.length ? { secretEnvNames } : {}),
  };
}

/**
 * The secret environment of a spec, checked. Problems name the variable, never its value. A spec
 * that sets secret_env_names (the output-only field answers carry) is refused: a spec copied from
 * an answer holds names without values.
 */
export function checkSecretEnv(spec: JobSpec, field = 'spec'): Record<string, string> {
  if (spec.secretEnvNames.length) {
    throw invalid(`${field}.secret_env_names is filled in by the server; give the values in ${field}.secret_env`);
  }
  const entries = Object.entries(spec.secretEnv);
  if (entries.length > LIMITS.secretEntries) throw invalid(`${field}.secret_env has ${entries.length} entries; the limit is ${LIMITS.secretEntries}`);
  let bytes = 0;
  for (const [k, v] of entries) {
    const name = `${field}.secret_env["${k.slice(0, 40)}"]`;
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,127}$/.test(k)) throw invalid(`${field}.secret_env key "${k.slice(0, 40)}" must be a variable name: [A-Za-z_][A-Za-z0-9_]*, at most 128 characters`);
    if (k in spec.env) throw invalid(`${field}.env and ${field}.secret_env both set ${k}: give it in one of them`);
    if (!v) throw invalid(`${name} is empty`);
    if (v.includes('\0')) throw invalid(`${name} must not contain NUL characters`);
    const size = Buffer.byteLength(v, 'utf8');
    if (size > LIMITS.secretValueBytes) throw invalid(`${name} holds ${size} bytes; the limit is ${LIMITS.secretValueBytes}`);
    bytes += size;
  }
  if (bytes > LIMITS.secretBytes) throw invalid(`${field}.secret_env holds ${bytes} bytes; the limit is ${LIMITS.secretBytes}`);
  return spec.secretEnv;
}

/** Page size with its default (100) and ceiling (1000). */
export function checkPageSize(pageSize: number): number {
  if (pageSize === 0) return 100;
  return checkRange('page_size', pageSize, 1, 1000);
}
