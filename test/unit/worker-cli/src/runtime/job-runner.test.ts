import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { create } from '@bufbuild/protobuf';
import { Code } from '@connectrpc/connect';
import { JobSchema, JobSpecSchema, JobState, type JobSpec } from '../../../../../gen/edge/v1/job_pb.js';
import { END_REPORT_LOG_BYTES, JobRunner, type JobProcesses } from '../../../../../worker-cli/src/runtime/job-runner.js';
import { JobReporter } from '../../../../../worker-cli/src/runtime/job-reporter.js';
import { silentLogger } from '../../../../../worker-cli/src/runtime/logger.js';
import { tempDir } from '../../../../helpers/databases.js';
import { InMemoryWorkerApi } from '../../../../helpers/in-memory-api.js';
import { waitFor } from '../../../../helpers/wait.js';

/**
 * A job process that is not one: it writes its output into the spool file the runner hands it,
 * "starts" on the next turn of the event loop and exits when the test says, or when signalled.
 */
class FakeJob extends EventEmitter {
  pid = 4_000_000 + Math.floor(Math.random() * 100_000);
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  constructor(
    readonly argv: string[],
    readonly options: SpawnOptions,
  ) {
    super();
  }
  /** Writes to the job's stdout, which is the spool file's descriptor. */
  write(text: string): void {
    fs.writeSync((this.options.stdio as number[])[1]!, text);
  }
  exit(code: number | null, signal: NodeJS.Signals | null = null): void {
    this.exitCode = code;
    this.signalCode = signal;
    this.emit('exit', code, signal);
  }
}

interface Scenario {
  /** What the process does once started; default: exit 0. */
  onStart?: (job: FakeJob) => void;
  /** What the process does with a signal to its group; default: die of it. */
  onSignal?: (job: FakeJob, signal: NodeJS.Signals) => void;
  /** Fail to start, as spawn does for a missing command. */
  startError?: NodeJS.ErrnoException;
}

function fakeProcesses(scenario: Scenario) {
  const started: FakeJob[] = [];
  const signals: [number, NodeJS.Signals][] = [];
  const processes: JobProcesses = {
    spawn: ((cmd: string, args: string[], options: SpawnOptions) => {
      const job = new FakeJob([cmd, ...args], options);
      started.push(job);
      // The descriptor is the runner's until spawn returns; a real child writes through its own copy.
      const fd = fs.openSync(`/proc/self/fd/${(options.stdio as number[])[1]}`, 'a');
      job.options.stdio = ['ignore', fd, fd];
      setImmediate(() => {
        if (scenario.startError) return job.emit('error', scenario.startError);
        job.emit('spawn');
        (scenario.onStart ?? ((j) => j.exit(0)))(job);
      });
      job.once('exit', () => fs.closeSync(fd));
      return job as unknown as ChildProcess;
    }) as unknown as JobProcesses['spawn'],
    signalGroup: (pgid, signal) => {
      signals.push([pgid, signal]);
      const job = started.find((j) => j.pid === pgid);
      if (!job || job.exitCode !== null || job.signalCode !== null) return false;
      setImmediate(() => (scenario.onSignal ?? ((j, s) => j.exit(null, s)))(job, signal));
      return true;
    },
  };
  return { processes, started, signals };
}

describe('JobRunner: one attempt of a job, its output and how it ended', () => {
  let api: InMemoryWorkerApi;
  let jobsDir: string;

  beforeEach(() => {
    api = new InMemoryWorkerApi();
    jobsDir = tempDir('runner');
  });

  // RUNNING goes out at the start unless a test asks for the grace the worker uses.
  function run(
    spec: Partial<Omit<JobSpec, '$typeName'>>,
    scenario: Scenario = {},
    opts: { killGraceMs?: number; hiddenEnv?: string[]; reporter?: JobReporter; runningReportGraceMs?: number } = {},
  ) {
    const fake = fakeProcesses(scenario);
    const job = create(JobSchema, { id: 'job-1', spec: create(JobSpecSchema, { queue: 'q', argv: ['cmd'], slots: 1, ...spec }) });
    const runner = new JobRunner(job, 1, { apis: api, reporter: new JobReporter(api, silentLogger), workerName: 'w1', log: silentLogger, jobsDir, processes: fake.processes, runningReportGraceMs: 0, ...opts });
    return { runner, ...fake };
  }

  const states = () => api.reports.map((r) => JobState[r.state]);

  it('reports RUNNING, then SUCCEEDED with exit code 0 once every byte of output is stored', async () => {
    const { runner } = run({ argv: ['echo', 'hi'] }, { onStart: (j) => (j.write('hello\n'), j.write('world\n'), j.exit(0)) });
    await runner.finished;
    assert.deepEqual(states(), ['RUNNING', 'SUCCEEDED']);
    assert.equal(api.reports[1]!.exitCode, 0);
    assert.equal(api.log('job-1', 1).toString(), 'hello\nworld\n');
    assert.equal(api.logSizeAtReport[1], 12, 'the end was reported after the output was stored');
    assert.equal(runner.outcome, JobState.SUCCEEDED);
    assert.deepEqual(fs.readdirSync(jobsDir), [], 'spool and process-group files are removed');
  });

  it('sends no RUNNING for a job that ends within the grace, and RUNNING with its run time for one that runs on', async () => {
    const quick = run({}, { onStart: (j) => j.exit(0) }, { runningReportGraceMs: 100 });
    await quick.runner.finished;
    assert.deepEqual(states(), ['SUCCEEDED']);
    assert.ok(api.reports[0]!.ranForMs !== undefined, 'the end says the job started');
    api.reports.length = 0;
    const slow = run({}, { onStart: (j) => void setTimeout(() => j.exit(0), 300) }, { runningReportGraceMs: 100 });
    await slow.runner.finished;
    assert.deepEqual(states(), ['RUNNING', 'SUCCEEDED']);
    // The grace timer may fire up to a millisecond early as performance.now() counts (libuv's loop time is cached).
    assert.ok(api.reports[0]!.ranForMs! >= 98, `RUNNING says how long the job had run: ${api.reports[0]!.ranForMs} ms`);
    assert.equal(api.reports[1]!.ranForMs, undefined);
  });

  it('starts the command without a shell, in its own process group, with the job\'s cwd and environment', async () => {
    process.env.EDGE_UNIT_SECRET = 'not for jobs';
    try {
      const { runner, started } = run({ argv: ['printf', '%s', '$HOME'], cwd: '/tmp', env: { A: '1' } }, {}, { hiddenEnv: ['EDGE_UNIT_SECRET'] });
      await runner.finished;
      const { argv, options } = started[0]!;
      assert.deepEqual(argv, ['printf', '%s', '$HOME']);
      assert.equal(options.detached, true);
      assert.equal(options.shell, undefined);
      assert.equal(options.cwd, '/tmp');
      assert.equal(options.env!.A, '1');
      assert.equal(options.env!.EDGE_JOB_ID, 'job-1');
      assert.equal(options.env!.EDGE_ATTEMPT, '1');
      assert.equal(options.env!.EDGE_QUEUE, 'q');
      assert.equal(options.env!.EDGE_WORKER_NAME, 'w1');
      assert.equal(options.env!.EDGE_UNIT_SECRET, undefined, 'hidden variables are removed');
    } finally {
      delete process.env.EDGE_UNIT_SECRET;
    }
  });

  it('reports FAILED with the exit code, or with the signal that killed the process', async () => {
    const exited = run({}, { onStart: (j) => j.exit(3) });
    await exited.runner.finished;
    assert.deepEqual([JobState[api.reports[1]!.state], api.reports[1]!.exitCode, api.reports[1]!.reason], ['FAILED', 3, 'exited with code 3']);

    api.reports.length = 0;
    const killed = run({}, { onStart: (j) => j.exit(null, 'SIGSEGV') });
    await killed.runner.finished;
    assert.deepEqual([JobState[api.reports[1]!.state], api.reports[1]!.signal, api.reports[1]!.reason], ['FAILED', 'SIGSEGV', 'killed by SIGSEGV']);
  });

  it('reports FAILED without RUNNING when the command cannot start, and says why in the log', async () => {
    const err = Object.assign(new Error('spawn nope ENOENT'), { code: 'ENOENT' });
    const { runner } = run({ argv: ['nope'] }, { startError: err });
    await runner.finished;
    assert.deepEqual(states(), ['FAILED']);
    assert.match(api.reports[0]!.reason, /^could not start "nope": spawn nope ENOENT$/);
    assert.match(api.log('job-1', 1).toString(), /^edge: could not start "nope"/);
  });

  it('cancels: SIGTERM to the process group, SIGKILL after the grace period when ignored; CANCELED', async () => {
    const { runner, signals, started } = run({}, { onStart: () => undefined, onSignal: (j, s) => s === 'SIGKILL' && j.exit(null, 'SIGKILL') }, { killGraceMs: 50 });
    await waitFor('RUNNING', () => api.reports.length === 1);
    runner.cancel('canceled by ops');
    await runner.finished;
    assert.deepEqual(signals, [
      [started[0]!.pid, 'SIGTERM'],
      [started[0]!.pid, 'SIGKILL'],
    ]);
    assert.deepEqual([JobState[api.reports[1]!.state], api.reports[1]!.signal, api.reports[1]!.reason], ['CANCELED', 'SIGKILL', 'canceled by ops']);
  });

  it('applies a cancel that came before the process started, as soon as it has', async () => {
    const { runner, signals } = run({}, { onStart: () => undefined });
    runner.cancel('canceled early');
    await runner.finished;
    assert.ok(signals.length >= 1 && signals.every((s) => s[1] === 'SIGTERM'), signals.join(' '));
    assert.equal(JobState[api.reports.at(-1)!.state], 'CANCELED');
  });

  it('stops a job at its timeout: FAILED "timed out"', async () => {
    const { runner } = run({ timeoutSeconds: 1 }, { onStart: () => undefined });
    await runner.finished;
    assert.deepEqual([JobState[api.reports[1]!.state], api.reports[1]!.signal, api.reports[1]!.reason], ['FAILED', 'SIGTERM', 'timed out after 1 s']);
  });

  it('stops a job when its worker shuts down: FAILED, so it may run again elsewhere', async () => {
    const { runner } = run({}, { onStart: () => undefined });
    await waitFor('RUNNING', () => api.reports.length === 1);
    runner.shutdown();
    await runner.finished;
    assert.deepEqual([JobState[api.reports[1]!.state], api.reports[1]!.reason], ['FAILED', 'killed: its worker was shut down']);
  });

  it('keeps reporting while the server is away, until it takes it; a start still unsent goes with the end', async () => {
    api.failReports = 2;
    // The job ends once the first RUNNING try has failed and waits (at least 100 ms) to be tried again.
    const { runner } = run({}, { onStart: (j) => void setTimeout(() => j.exit(0), 20) });
    await runner.finished;
    assert.equal(api.failReports, 0);
    assert.deepEqual(states(), ['SUCCEEDED']);
    assert.equal(typeof api.reports[0]!.ranForMs, 'number', 'the end says the job started');
  });

  it('sends a short job\'s end alone, with how long it ran and its output, when its RUNNING had not gone out yet: no log stream', async () => {
    let open!: () => void;
    api.gate = new Promise((r) => (open = r));
    const reporter = new JobReporter(api, silentLogger);
    // Another job's report holds the line: this job's RUNNING waits behind it, and the job ends meanwhile.
    const other = reporter.report({ jobId: 'job-0', attempt: 1, workerName: 'w1', state: JobState.RUNNING });
    const queued: JobState[] = [];
    const report = reporter.report.bind(reporter);
    reporter.report = (init, signal) => (queued.push(init.state!), report(init, signal));
    const { runner } = run({}, { onStart: (j) => (j.write('short output\n'), j.exit(0)) }, { reporter });
    // The line opens once the end is queued behind the held call (a fixed 50 ms was too short on a loaded machine).
    await waitFor('the end report to be queued', () => queued.includes(JobState.SUCCEEDED));
    open();
    await runner.finished;
    assert.equal((await other.outcome).kind, 'stored');
    assert.deepEqual(api.reportCalls, [1, 1], 'the held call, then the end alone: RUNNING was never sent');
    assert.deepEqual(states(), ['RUNNING', 'SUCCEEDED']);
    const end = api.reports[1]!;
    assert.equal(end.jobId, 'job-1');
    assert.equal(typeof end.ranForMs, 'number');
    assert.equal(Buffer.from(end.log).toString(), 'short output\n');
    assert.equal(end.logOffset, 0n);
    assert.equal(api.streams, 0, 'no UploadLogs stream for a short job');
    assert.equal(api.log('job-1', 1).toString(), 'short output\n');
  });

  it('streams the output of a job that writes more than an end report carries, and reports RUNNING on its own', async () => {
    const big = Buffer.alloc(END_REPORT_LOG_BYTES + 1, 'x');
    const { runner } = run({}, { onStart: (j) => (j.write(big.toString()), j.exit(0)) });
    await runner.finished;
    assert.deepEqual(states(), ['RUNNING', 'SUCCEEDED']);
    assert.ok(api.streams >= 1, 'streamed');
    assert.equal(api.reports.at(-1)!.log.length, 0);
    assert.ok(api.log('job-1', 1).equals(big));
    assert.equal(api.logSizeAtReport.at(-1), big.length, 'the end was reported after the output was stored');
  });

  it('kills the process and reports nothing more when the server refuses the attempt (taken back)', async () => {
    api.refuse = Code.FailedPrecondition;
    const { runner, signals } = run({}, { onStart: (j) => j.write('output nobody wants\n') });
    await runner.finished;
    assert.deepEqual(signals.map((s) => s[1]), ['SIGTERM']);
    assert.deepEqual(api.reports, []);
  });
});
