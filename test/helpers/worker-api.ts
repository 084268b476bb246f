import { connectApi, type Api } from '../../worker-cli/src/lib/api.js';
import { TEST_REGISTRATION_SECRET } from './credentials.js';

/**
 * A test acting as a worker: registers with the registration secret and returns an API client that
 * uses the worker's own token, as a real worker does.
 */
export async function registerAsWorker(url: string, input: { name: string; queues: string[]; concurrency: number; version: string }): Promise<Api> {
  const reg = connectApi(url, TEST_REGISTRATION_SECRET);
  try {
    const res = await reg.workers.registerWorker(input);
    return connectApi(url, res.workerToken);
  } finally {
    reg.close();
  }
}
