import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { JobState } from '../../../../../gen/edge/v1/job_pb.js';
import { JobReporter, type ReportInit } from '../../../../../worker-cli/src/runtime/job-reporter.js';
import { silentLogger } from '../../../../../worker-cli/src/runtime/logger.js';
import { InMemoryWorkerApi } from '../../../../helpers/in-memory-api.js';

const report = (jobId: string, state = JobState.RUNNING): ReportInit => ({ jobId, attempt: 1, workerName: 'w1', state });

describe('JobReporter: the worker\'s reports, coalesced into ReportJobStates calls', () => {
  let api: InMemoryWorkerApi;
  let reporter: JobReporter;
  let open: () => void;

  beforeEach(() => {
    api = new InMemoryWorkerApi();
    reporter = new JobReporter(api, silentLogger);
  });

  function closeGate() {
    api.gate = new Promise((r) => (open = () => ((api.gate = undefined), r())));
  }

  it('sends a report at once when idle: within the turn it was made, no timer', async () => {
    const calls: unknown[] = [];
    const stub = { api: { workers: { reportJobStates: async (req: { reports: unknown[] }) => (calls.push(req), { results: req.reports.map(() => ({ result: { case: 'job', value: {} } })) }) } } };
    const idle = new JobReporter(stub as unknown as InMemoryWorkerApi, silentLogger);
    const pending = idle.report(report('a'));
    assert.equal(calls.length, 0, 'reports made in the same turn may still join');
    await new Promise((r) => setImmediate(r));
    assert.equal(calls.length, 1, 'sent before any timer could fire');
    assert.equal((await pending.outcome).kind, 'stored');
  });

  it('queues the reports made while a call is in flight and sends them together, in order', async () => {
    closeGate();
    const first = reporter.report(report('a'));
    await sleep(10);
    const rest = ['b', 'c', 'd', 'e'].map((id) => reporter.report(report(id, JobState.SUCCEEDED)));
    assert.deepEqual(api.reportCalls, [], 'the first call is held');
    open();
    const outcomes = await Promise.all([first, ...rest].map((p) => p.outcome));
    assert.deepEqual(outcomes.map((o) => o.kind), ['stored', 'stored', 'stored', 'stored', 'stored']);
    assert.deepEqual(api.reportCalls, [1, 4]);
    assert.deepEqual(api.reports.map((r) => r.jobId), ['a', 'b', 'c', 'd', 'e']);
  });

  it('sends the reports of one turn of the event loop in one call', async () => {
    await Promise.all(['a', 'b', 'c'].map((id) => reporter.report(report(id)).outcome));
    assert.deepEqual(api.reportCalls, [3]);
  });

  it('ends a refused report alone (stale attempt); the others of its call are stored', async () => {
    api.refuseJobs.add('b');
    const [a, b, c] = await Promise.all(['a', 'b', 'c'].map((id) => reporter.report(report(id)).outcome));
    assert.equal(a!.kind, 'stored');
    assert.equal(b!.kind, 'refused');
    assert.match(b!.kind === 'refused' ? b!.error.rawMessage : '', /not held by this worker/);
    assert.equal(c!.kind, 'stored');
    assert.deepEqual(api.reports.map((r) => r.jobId), ['a', 'c']);
  });

  it('tries a call that failed as a whole again, with backoff, until the server takes it', async () => {
    api.failReports = 2;
    const outcomes = await Promise.all(['a', 'b'].map((id) => reporter.report(report(id)).outcome));
    assert.deepEqual(outcomes.map((o) => o.kind), ['stored', 'stored']);
    assert.equal(api.failReports, 0);
    assert.deepEqual(api.reports.map((r) => r.jobId), ['a', 'b']);
  });

  it('takes back a report not sent yet (withdraw), but not one on the wire', async () => {
    closeGate();
    const sent = reporter.report(report('a'));
    await sleep(10);
    const waiting = reporter.report(report('b'));
    assert.equal(sent.withdraw(), false, 'on the wire');
    assert.equal(waiting.withdraw(), true);
    assert.equal((await waiting.outcome).kind, 'dropped');
    open();
    assert.equal((await sent.outcome).kind, 'stored');
    await sleep(10);
    assert.deepEqual(api.reports.map((r) => r.jobId), ['a']);
  });

  it('drops a waiting report whose sender gave up (the attempt was taken back)', async () => {
    closeGate();
    const first = reporter.report(report('a'));
    await sleep(10);
    const stop = new AbortController();
    const given = reporter.report(report('b'), stop.signal);
    stop.abort();
    assert.equal((await given.outcome).kind, 'dropped');
    open();
    await first.outcome;
    await sleep(10);
    assert.deepEqual(api.reportCalls, [1]);
  });

  it('gives up the reports still waiting once closed (the worker stopped), and tries none again', async () => {
    api.failReports = 1_000;
    const waiting = reporter.report(report('a'));
    await sleep(50);
    reporter.close();
    assert.equal((await waiting.outcome).kind, 'dropped');
    assert.equal(reporter.report(report('b')).withdraw(), false, 'a report after close ends at once');
    const failed = api.failReports;
    await sleep(600);
    assert.equal(api.failReports, failed, 'no call after close');
  });

  it('sends at most maxBatch reports per call', async () => {
    reporter = new JobReporter(api, silentLogger, { maxBatch: 2 });
    await Promise.all(['a', 'b', 'c', 'd', 'e'].map((id) => reporter.report(report(id)).outcome));
    assert.deepEqual(api.reportCalls, [2, 2, 1]);
  });
});
