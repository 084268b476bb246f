import assert from 'node:assert/strict';
import { EventEmitter, once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { create } from '@bufbuild/protobuf';
import { JobSchema, JobState } from '../../../../../gen/edge/v1/job_pb.js';
import type { Api } from '../../../../../worker-cli/src/lib/api.js';
import { EXIT } from '../../../../../worker-cli/src/lib/job-exit-codes.js';
import { runJob } from '../../../../../worker-cli/src/lib/run-job.js';

/** Records what `edge run` prints on stderr. */
function stderr(): NodeJS.WriteStream & { text: string } {
  const s = { isTTY: false, text: '', write(chunk: string) { s.text += chunk; return true; } };
  return s as unknown as NodeJS.WriteStream & { text: string };
}

/** An API whose job runs forever, with no output, and whose cancel takes `cancelMs` to be acknowledged. */
function runningJobApi(cancelMs: number) {
  const job = create(JobSchema, { id: 'job-1', state: JobState.RUNNING, attempt: 1, spec: { queue: 'q', argv: ['sleep', '99'] } });
  const calls = { cancelAsked: 0, cancelAcknowledged: 0 };
  const api = {
    jobs: {
      submitJob: async () => ({ job }),
      getJob: async () => ({ job }),
      cancelJob: async () => {
        calls.cancelAsked++;
        await sleep(cancelMs);
        calls.cancelAcknowledged++;
        return {};
      },
    },
    logs: {
      async *tailLogs(_req: unknown, opts: { signal: AbortSignal }) {
        if (!opts.signal.aborted) await once(opts.signal, 'abort');
        throw new Error('aborted');
      },
    },
  } as unknown as Api;
  return { api, calls };
}

describe('edge run: Ctrl-C on a running job', () => {
  it('a second Ctrl-C leaves only once the first Ctrl-C\'s cancel was acknowledged', async () => {
    const { api, calls } = runningJobApi(300);
    const interrupts = new EventEmitter();
    const err = stderr();
    const exit = runJob(api, { queue: 'q', argv: ['sleep', '99'] }, { interrupts, stderr: err });
    await sleep(20);
    interrupts.emit('SIGINT');
    assert.match(err.text, /canceling job job-1/);
    interrupts.emit('SIGINT');
    assert.equal(await exit, EXIT.detached);
    assert.deepEqual(calls, { cancelAsked: 1, cancelAcknowledged: 1 });
    assert.match(err.text, /left job job-1 running; follow it with: edge job logs -f job-1/);
    assert.equal(interrupts.listenerCount('SIGINT'), 0);
  });
});
