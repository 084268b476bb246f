import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { jobGroups, killOrphans } from '../../../../../worker-cli/src/runtime/process-group.js';
import { groupAlive as alive } from '../../../../helpers/processes.js';
import { waitFor } from '../../../../helpers/wait.js';

describe('orphaned jobs of a previous run of the worker (worker-cli/src/runtime/process-group.ts)', () => {
  let dir: string;
  const started: ChildProcess[] = [];
  /** A job's process group as a worker starts it: its own session, with the job's id and attempt in its environment. */
  const job = (id: string, attempt: number, script = 'sleep 60') => {
    const child = spawn('sh', ['-c', script], { detached: true, stdio: 'ignore', env: { ...process.env, EDGE_JOB_ID: id, EDGE_ATTEMPT: String(attempt) } });
    started.push(child);
    return child.pid!;
  };

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'edge-orphans-'));
  });
  afterEach(() => {
    for (const c of started.splice(0)) if (c.pid && alive(c.pid)) process.kill(-c.pid, 'SIGKILL');
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('kills the group of every attempt left with a spool file, and only those; removes the spool files', async () => {
    const left = job('job-left', 1);
    const otherAttempt = job('job-left', 2);
    const noSpool = job('job-elsewhere', 1);
    fs.writeFileSync(path.join(dir, 'job-left.1.log'), 'output');
    fs.writeFileSync(path.join(dir, 'job-old.3.pgid'), '99999\n');
    await waitFor('the jobs to carry their ids', () => jobGroups(new Set(['job-left.1', 'job-left.2', 'job-elsewhere.1'])).size === 3);
    const warnings: string[] = [];
    await killOrphans(dir, { info() {}, warn: (m) => warnings.push(m), error() {} }, 100);
    await waitFor('the orphan to die', () => !alive(left));
    assert.ok(alive(otherAttempt), 'the next attempt of the same job (on another worker) is left alone');
    assert.ok(alive(noSpool), 'a job this worker did not leave is left alone');
    assert.deepEqual(warnings, [`killed the orphaned process group ${left} of job job-left attempt 1, left by a previous run of this worker`]);
    assert.deepEqual(fs.readdirSync(dir), []);
  });

  it('finds a group whose leader has exited through the processes it left', async () => {
    // The leader starts a child in its group and exits at once.
    const leader = job('job-forked', 1, 'sleep 60 & exit 0');
    await waitFor('the leader to exit', () => started[0]!.exitCode !== null);
    assert.ok(alive(leader), 'its child still runs in the group');
    assert.deepEqual([...jobGroups(new Set(['job-forked.1']))], [[leader, 'job-forked.1']]);
    fs.writeFileSync(path.join(dir, 'job-forked.1.log'), '');
    await killOrphans(dir, { info() {}, warn() {}, error() {} }, 100);
    await waitFor('the group to die', () => !alive(leader));
  });

  it('does nothing when the folder is empty or missing', async () => {
    await killOrphans(dir, { info() {}, warn: () => assert.fail('nothing to kill'), error() {} }, 100);
    await killOrphans(path.join(dir, 'missing'), { info() {}, warn: () => assert.fail('nothing to kill'), error() {} }, 100);
  });
});
