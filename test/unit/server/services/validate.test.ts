import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { Code, ConnectError } from '@connectrpc/connect';
import { JobSpecSchema, type JobSpec } from '../../../../gen/edge/v1/job_pb.js';
import { checkId, checkJobSpec, checkPageSize, checkQueue, checkRange, checkWorkerName } from '../../../../server/services/validate.js';

/** Asserts that `fn` throws InvalidArgument whose message matches `message`. */
function invalid(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ConnectError, `not a ConnectError: ${String(err)}`);
    assert.equal(err.code, Code.InvalidArgument);
    assert.match(err.rawMessage, message);
    return true;
  });
}

const spec = (fields: Omit<Partial<JobSpec>, '$typeName'>) => create(JobSpecSchema, { argv: ['true'], ...fields });

describe('validate: request checks name the field and the problem', () => {
  it('fills a spec\'s defaults: queue default, 1 slot, 1 attempt, and copies what it keeps', () => {
    const argv = ['echo', 'hi'];
    const s = spec({ argv, env: { A: '1' }, labels: { team: 'x' }, priority: -3 });
    const r = checkJobSpec(s);
    assert.deepEqual(r, {
      queue: 'default',
      argv: ['echo', 'hi'],
      env: { A: '1' },
      cwd: '',
      slots: 1,
      priority: -3,
      timeoutSeconds: 0,
      maxAttempts: 1,
      labels: { team: 'x' },
    });
    argv.push('later');
    assert.deepEqual(r.argv, ['echo', 'hi'], 'the record does not share the request\'s arrays');
  });

  it('keeps explicit slots, attempts and timeout within their ranges and refuses those outside', () => {
    assert.equal(checkJobSpec(spec({ slots: 1024, maxAttempts: 100, timeoutSeconds: 60 })).slots, 1024);
    invalid(() => checkJobSpec(spec({ slots: 1025 })), /^spec\.slots must be between 1 and 1024, got 1025$/);
    invalid(() => checkJobSpec(spec({ slots: -1 })), /spec\.slots/);
    invalid(() => checkJobSpec(spec({ maxAttempts: 101 })), /spec\.max_attempts must be between 1 and 100/);
    invalid(() => checkJobSpec(spec({ timeoutSeconds: -5 })), /spec\.timeout_seconds/);
    invalid(() => checkJobSpec(spec({ timeoutSeconds: 366 * 24 * 3600 + 1 })), /spec\.timeout_seconds/);
  });

  it('refuses a missing spec, an empty command, NUL bytes, and names the field given', () => {
    invalid(() => checkJobSpec(undefined), /^spec is required$/);
    invalid(() => checkJobSpec(undefined, 'job.spec'), /^job\.spec is required$/);
    invalid(() => checkJobSpec(spec({ argv: [] })), /spec\.argv is empty/);
    invalid(() => checkJobSpec(spec({ argv: [''] })), /spec\.argv\[0\] is empty/);
    invalid(() => checkJobSpec(spec({ argv: ['echo', 'a\0b'] })), /spec\.argv\[1\] must not contain NUL/);
    invalid(() => checkJobSpec(spec({ cwd: '/tmp\0' })), /spec\.cwd must not contain NUL/);
    invalid(() => checkJobSpec(spec({ queue: 'a b' })), /^spec\.queue: queue name "a b"/);
  });

  it('bounds argv, env and labels by count and bytes', () => {
    invalid(() => checkJobSpec(spec({ argv: Array(4097).fill('x') })), /spec\.argv has 4097 items; the limit is 4096/);
    invalid(() => checkJobSpec(spec({ argv: ['x'.repeat(256 * 1024 + 1)] })), /spec\.argv holds 262145 bytes/);
    const many = Object.fromEntries(Array.from({ length: 1025 }, (_, i) => [`K${i}`, 'v']));
    invalid(() => checkJobSpec(spec({ env: many })), /spec\.env has 1025 entries; the limit is 1024/);
    invalid(() => checkJobSpec(spec({ labels: { big: 'x'.repeat(256 * 1024) } })), /spec\.labels holds \d+ bytes/);
    invalid(() => checkJobSpec(spec({ cwd: '/'.repeat(4097) })), /spec\.cwd is longer than 4096/);
  });

  it('refuses env keys that are empty, hold "=" or are too long; label keys may hold "="', () => {
    invalid(() => checkJobSpec(spec({ env: { '': 'x' } })), /spec\.env has an empty key/);
    invalid(() => checkJobSpec(spec({ env: { 'A=B': 'x' } })), /spec\.env key "A=B" must not contain "="/);
    invalid(() => checkJobSpec(spec({ env: { ['K'.repeat(1025)]: 'x' } })), /spec\.env key "K{40}…" is longer than 1024/);
    invalid(() => checkJobSpec(spec({ env: { A: 'x\0' } })), /spec\.env\["A"\] must not contain NUL/);
    assert.deepEqual(checkJobSpec(spec({ labels: { 'a=b': 'c' } })).labels, { 'a=b': 'c' });
  });

  it('checks ids (UUIDs, lower-cased), ranges, page sizes, queue and worker names', () => {
    assert.equal(checkId('job_id', '0192F0A4-0000-7000-8000-00000000000A'), '0192f0a4-0000-7000-8000-00000000000a');
    invalid(() => checkId('job_id', ''), /^job_id is required$/);
    invalid(() => checkId('job_id', 'nope'), /^job_id "nope" is not a job id/);
    assert.equal(checkRange('n', 5, 1, 5), 5);
    invalid(() => checkRange('n', 1.5, 1, 5), /^n must be between 1 and 5, got 1\.5$/);
    assert.equal(checkPageSize(0), 100);
    assert.equal(checkPageSize(1000), 1000);
    invalid(() => checkPageSize(1001), /^page_size must be between 1 and 1000/);
    assert.equal(checkQueue('queue', 'q1'), 'q1');
    invalid(() => checkQueue('queues[2]', ''), /^queues\[2\]: queue name is empty$/);
    assert.equal(checkWorkerName('name', 'w-1'), 'w-1');
    invalid(() => checkWorkerName('name', 'w 1'), /^name: worker name "w 1"/);
  });

  it('checks secret_env: variable names, no value in both env and secret_env, sizes, and never echoes a value', () => {
    const r = checkJobSpec(spec({ env: { A: '1' }, secretEnv: { DB_PASSWORD: 'pw-123456', API_KEY: 'k-123456' } }));
    assert.deepEqual(r.secretEnvNames, ['API_KEY', 'DB_PASSWORD']);
    assert.equal(JSON.stringify(r).includes('pw-123456'), false, 'the record holds names, not values');
    invalid(() => checkJobSpec(spec({ secretEnv: { 'BAD-NAME': 'value-1234' } })), /^spec\.secret_env key "BAD-NAME" must be a variable name/);
    invalid(() => checkJobSpec(spec({ env: { X: '1' }, secretEnv: { X: 'value-1234' } })), /spec\.env and spec\.secret_env both set X/);
    invalid(() => checkJobSpec(spec({ secretEnv: { X: '' } })), /spec\.secret_env\["X"\] is empty/);
    invalid(() => checkJobSpec(spec({ secretEnv: { X: 'v'.repeat(16 * 1024 + 1) } })), /spec\.secret_env\["X"\] holds 16385 bytes; the limit is 16384/);
    invalid(() => checkJobSpec(spec({ secretEnvNames: ['X'] }), 'specs[2]'), /specs\[2\]\.secret_env_names is filled in by the server/);
    const leaky = spec({ secretEnv: { X: 'top-secret\0value' } });
    assert.throws(() => checkJobSpec(leaky), (err: ConnectError) => !err.rawMessage.includes('top-secret'));
  });
});
