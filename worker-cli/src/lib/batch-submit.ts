import { ConnectError } from '@connectrpc/connect';
import type { Api } from './api.js';
import type { SpecAtLine } from './spec-file.js';

/** The server takes at most this many jobs per SubmitJobs call. */
export const MAX_BATCH = 1000;

export interface BatchResult {
  /** Ids of the jobs stored, in the order of the file. */
  ids: string[];
  /** Set when a batch was refused: it and every later batch were not submitted. */
  error?: string;
}

/**
 * Submits specs in batches of `batchSize` through SubmitJobs: each batch is stored whole or not at
 * all. Stops at the first refused batch, so the ids stay in file order and nothing after it runs.
 */
export async function submitInBatches(api: Api, file: string, specs: SpecAtLine[], batchSize: number, progress: (done: number, total: number) => void): Promise<BatchResult> {
  const ids: string[] = [];
  for (let start = 0; start < specs.length; start += batchSize) {
    const batch = specs.slice(start, start + batchSize);
    try {
      const { jobs } = await api.jobs.submitJobs({ specs: batch.map((s) => s.spec) });
      ids.push(...jobs.map((j) => j.id));
    } catch (err) {
      const e = ConnectError.from(err);
      // The server names the spec by its index in the batch ("specs[12].queue …"): name its line instead.
      const message = e.rawMessage.replace(/specs\[(\d+)\]\.?/g, (_, i: string) => `${file}:${batch[Number(i)]?.line ?? '?'}: `);
      const lines = `lines ${batch[0]!.line}-${batch[batch.length - 1]!.line}`;
      return { ids, error: `batch ${start / batchSize + 1} (${lines}) was refused, nothing of it submitted: ${message}` };
    }
    progress(ids.length, specs.length);
  }
  return { ids };
}

/** Progress on stderr: a bar rewritten in place on a terminal, a plain line per batch otherwise. */
export function progressReporter(stream: NodeJS.WriteStream = process.stderr): (done: number, total: number) => void {
  if (!stream.isTTY) return (done, total) => stream.write(`submitted ${done}/${total} jobs\n`);
  return (done, total) => {
    const width = 30;
    const full = Math.round((done / total) * width);
    stream.write(`\r[${'#'.repeat(full)}${'.'.repeat(width - full)}] ${done}/${total} jobs${done === total ? '\n' : ''}`);
  };
}
