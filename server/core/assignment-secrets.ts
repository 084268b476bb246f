import type { Assignment } from '../domain/records.js';
import type { Store } from '../store/store.js';
import type { SecretBox } from './secret-box.js';

/**
 * The secret values that go with an assignment down the stream of the worker it names: read and
 * opened at the moment of sending, and only while that worker holds the attempt. Undefined: send
 * nothing (the attempt was taken back meanwhile, or its secrets cannot be opened, and then the attempt
 * fails, saying why; the values never reach a log).
 */
export async function assignmentSecrets(
  store: Store,
  box: SecretBox | undefined,
  a: Assignment,
  workerName: string,
  now: () => number,
  log: (msg: string, err?: unknown) => void,
): Promise<Record<string, string> | undefined> {
  if (!a.job.secretEnvNames?.length) return {};
  const sealed = await store.heldSecretEnv(a.job.id, a.attempt, workerName);
  if (sealed === undefined) {
    log(`job ${a.job.id} attempt ${a.attempt} is no longer held by worker ${workerName}: its assignment and secrets are not sent`);
    return undefined;
  }
  try {
    if (!box) throw new Error('this server has no key for job secrets (EDGE_SECRET_KEY, or the key file of its data dir)');
    return box.open(sealed);
  } catch (err) {
    const reason = `its secrets cannot be opened on this server: ${(err as Error).message}`;
    log(`job ${a.job.id} attempt ${a.attempt} fails`, new Error(reason));
    await store
      .reportJob({ jobId: a.job.id, attempt: a.attempt, workerName, state: 'FAILED', exitCode: null, signal: null, reason }, now())
      .catch((e: unknown) => log(`could not fail job ${a.job.id}`, e));
    return undefined;
  }
}
