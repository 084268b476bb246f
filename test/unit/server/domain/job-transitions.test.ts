import assert from 'node:assert/strict';
import { judgeReport, reportShapeProblem, type ReportedMove } from '../../../../server/domain/job-transitions.js';
import { JOB_STATES, type JobStateName } from '../../../../server/domain/records.js';

describe('job transitions: what a worker may report of a job it holds', () => {
  const move = (from: JobStateName, state: JobStateName, extra: Partial<ReportedMove> = {}): ReportedMove => ({
    from,
    state,
    cancelRequested: false,
    exitCode: state === 'SUCCEEDED' ? 0 : null,
    signal: null,
    ...extra,
  });

  it('allows exactly the arrows of the state machine, and nothing else', () => {
    const legal = new Set(['ASSIGNED>RUNNING', 'ASSIGNED>QUEUED', 'ASSIGNED>FAILED', 'RUNNING>SUCCEEDED', 'RUNNING>FAILED']);
    for (const from of JOB_STATES) {
      for (const to of JOB_STATES) {
        const verdict = judgeReport(move(from, to));
        const expected = from === to ? 'repeat' : legal.has(`${from}>${to}`) ? 'move' : 'refused';
        assert.equal(verdict.kind, expected, `${from} -> ${to}`);
      }
    }
  });

  it('lets a job end CANCELED only when somebody asked, and a stored cancel wins over a start', () => {
    assert.equal(judgeReport(move('ASSIGNED', 'CANCELED')).kind, 'refused');
    assert.equal(judgeReport(move('RUNNING', 'CANCELED')).kind, 'refused');
    assert.equal(judgeReport(move('ASSIGNED', 'CANCELED', { cancelRequested: true })).kind, 'move');
    assert.equal(judgeReport(move('RUNNING', 'CANCELED', { cancelRequested: true, signal: 'SIGTERM' })).kind, 'move');
    assert.equal(judgeReport(move('ASSIGNED', 'RUNNING', { cancelRequested: true })).kind, 'cancel-wins');
  });

  it('takes an end that carries its start as RUNNING and then that end; a stored cancel still wins', () => {
    const started = { startedToo: true };
    assert.equal(judgeReport(move('ASSIGNED', 'SUCCEEDED', started)).kind, 'start-and-end');
    assert.equal(judgeReport(move('ASSIGNED', 'FAILED', { ...started, exitCode: 2 })).kind, 'start-and-end');
    assert.equal(judgeReport(move('ASSIGNED', 'SUCCEEDED', { ...started, cancelRequested: true })).kind, 'cancel-wins');
    assert.equal(judgeReport(move('ASSIGNED', 'CANCELED', { ...started, cancelRequested: true, signal: 'SIGTERM' })).kind, 'cancel-wins');
    // CANCELED nobody asked for is refused as it would be from RUNNING.
    assert.equal(judgeReport(move('ASSIGNED', 'CANCELED', started)).kind, 'refused');
    // Its RUNNING already stored (an earlier call whose answer was lost): a plain end.
    assert.equal(judgeReport(move('RUNNING', 'SUCCEEDED', started)).kind, 'move');
    assert.equal(judgeReport(move('SUCCEEDED', 'SUCCEEDED', started)).kind, 'repeat');
    assert.equal(judgeReport(move('QUEUED', 'SUCCEEDED', started)).kind, 'refused');
  });

  it('refuses an outcome for a job that never ran', () => {
    assert.equal(judgeReport(move('ASSIGNED', 'FAILED', { exitCode: 1 })).kind, 'refused');
    assert.equal(judgeReport(move('ASSIGNED', 'FAILED', { signal: 'SIGKILL' })).kind, 'refused');
    const refused = judgeReport(move('ASSIGNED', 'SUCCEEDED'));
    assert.equal(refused.kind, 'refused');
    assert.match((refused as { message: string }).message, /ASSIGNED cannot be reported SUCCEEDED: it must be RUNNING first/);
  });

  it('checks the shape of a report whatever the job state', () => {
    const shape = (state: JobStateName, exitCode: number | null, signal: string | null) => reportShapeProblem({ state, exitCode, signal });
    assert.equal(shape('SUCCEEDED', 0, null), undefined);
    assert.match(shape('SUCCEEDED', 7, null)!, /exit_code must be 0 for SUCCEEDED, not 7/);
    assert.match(shape('SUCCEEDED', null, null)!, /exit_code must be 0/);
    assert.match(shape('SUCCEEDED', null, 'SIGTERM')!, /killed by a signal has FAILED/);
    assert.match(shape('FAILED', 1, 'SIGKILL')!, /exit_code and signal exclude each other/);
    assert.match(shape('FAILED', 0, null)!, /exit_code 0 is SUCCEEDED, not FAILED/);
    assert.equal(shape('FAILED', 2, null), undefined);
    assert.equal(shape('FAILED', null, 'SIGKILL'), undefined);
    assert.equal(shape('FAILED', null, null), undefined); // could not start
    assert.match(shape('RUNNING', 0, null)!, /carries no exit_code or signal/);
    assert.match(shape('QUEUED', null, 'SIGTERM')!, /carries no exit_code or signal/);
    assert.match(shape('ASSIGNED', null, null)!, /state must be one of QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED/);
  });
});
