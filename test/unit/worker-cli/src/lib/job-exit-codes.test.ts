import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { JobSchema, JobState } from '../../../../../gen/edge/v1/job_pb.js';
import { EXIT, exitCodeOf } from '../../../../../worker-cli/src/lib/job-exit-codes.js';

const ended = (init: { state: JobState; exitCode?: number; signal?: string; reason?: string }) => create(JobSchema, { id: 'j', ...init });

describe('edge run exit codes', () => {
  it("is the command's own exit code, 0 on success", () => {
    assert.equal(exitCodeOf(ended({ state: JobState.SUCCEEDED, exitCode: 0 })), 0);
    assert.equal(exitCodeOf(ended({ state: JobState.FAILED, exitCode: 3, reason: 'exited with code 3' })), 3);
  });

  it('is 128+N for signal N', () => {
    assert.equal(exitCodeOf(ended({ state: JobState.FAILED, signal: 'SIGKILL', reason: 'killed by SIGKILL' })), 137);
    assert.equal(exitCodeOf(ended({ state: JobState.FAILED, signal: 'SIGTERM', reason: 'killed by SIGTERM' })), 143);
  });

  it('has its own codes for canceled, timed out, lost and could not start, whatever signal ended the process', () => {
    assert.equal(exitCodeOf(ended({ state: JobState.CANCELED, signal: 'SIGTERM', reason: 'canceled by user' })), EXIT.canceled);
    assert.equal(exitCodeOf(ended({ state: JobState.FAILED, signal: 'SIGTERM', reason: 'timed out after 1 s' })), EXIT.timedOut);
    assert.equal(exitCodeOf(ended({ state: JobState.FAILED, reason: 'worker lost' })), EXIT.lost);
    assert.equal(exitCodeOf(ended({ state: JobState.FAILED, reason: 'queued too long (over 60 s without a worker)' })), EXIT.lost);
    assert.equal(exitCodeOf(ended({ state: JobState.FAILED, reason: 'could not start "nope": spawn nope ENOENT' })), EXIT.couldNotStart);
  });

  it('keeps the documented codes apart from each other', () => {
    const codes = Object.values(EXIT);
    assert.equal(new Set(codes).size, codes.length);
  });
});
