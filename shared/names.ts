/** Naming rules shared by the server's validation and the CLI's flag checks. */

export const DEFAULT_QUEUE = 'default';
const QUEUE_RE = /^[A-Za-z0-9._:-]{1,256}$/;
const WORKER_NAME_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** Why a queue name is not acceptable, or undefined when it is. */
export function queueNameProblem(name: string): string | undefined {
  if (QUEUE_RE.test(name)) return undefined;
  const shown = name.length > 40 ? `${name.slice(0, 40)}…` : name;
  if (name.length === 0) return 'queue name is empty';
  if (name.length > 256) return `queue name "${shown}" is ${name.length} characters long; the limit is 256`;
  return `queue name "${shown}" may only hold the characters A-Z a-z 0-9 . _ : -`;
}

/** Why a worker name is not acceptable, or undefined when it is. */
export function workerNameProblem(name: string): string | undefined {
  // A worker's name names its files in the state dir (<name>.token, <name>.jobs/): never a path step.
  if (name === '.' || name === '..') return `worker name "${name}" is not allowed`;
  if (WORKER_NAME_RE.test(name)) return undefined;
  if (name.length === 0) return 'worker name is empty';
  if (name.length > 128) return `worker name is ${name.length} characters long; the limit is 128`;
  return `worker name "${name}" may only hold the characters A-Z a-z 0-9 . _ : -`;
}

/** Splits a comma-separated queue list ("a,b") into names, dropping empty items. */
export function parseQueueList(list: string): string[] {
  return [...new Set(list.split(',').map((q) => q.trim()).filter(Boolean))];
}
