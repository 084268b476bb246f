import assert from 'node:assert/strict';
import { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { SpawnHelper, type JobSpawnOptions } from '../../worker-cli/src/runtime/spawn-helper.js';
import { signalGroup } from '../../worker-cli/src/runtime/process-group.js';
import { tempDir } from '../helpers/databases.js';

interface Ended {
  pid: number | undefined;
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Whether a process has ended (gone, or a zombie its new parent has not reaped yet), within 2 s. */
async function gone(pid: number): Promise<boolean> {
  assert.ok(pid > 0, `a pid, not ${pid}`);
  for (let i = 0; i < 40; i++) {
    try {
      if (fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.startsWith('Z')) return true;
    } catch {
      return true;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** The pid a job printed, once it has. */
async function waitForOutput(file: string): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const text = fs.readFileSync(file, 'utf8');
    if (text.endsWith('\n')) return Number(text);
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no pid in ${file} after 5 s`);
}

/** Real processes started through a real helper (perl), as the job runner starts them. */
describe('SpawnHelper: job processes started from a small helper process', function () {
  let dir: string;
  let helper: SpawnHelper;

  beforeEach(async () => {
    dir = tempDir('spawn-helper');
    helper = new SpawnHelper();
    await helper.prepare();
    assert.ok(helper.pid, 'the helper runs');
  });
  afterEach(() => helper.stop());

  function start(argv: string[], opts: Partial<JobSpawnOptions> = {}): { child: ChildProcess; outputFile: string; started: Promise<number>; ended: Promise<Ended> } {
    const outputFile = path.join(dir, `out-${Math.random().toString(36).slice(2)}.log`);
    const fd = fs.openSync(outputFile, 'a+', 0o600);
    const child = helper.spawn(argv[0]!, argv.slice(1), { env: { PATH: process.env.PATH }, detached: true, stdio: ['ignore', fd, fd], outputFile, ...opts } as JobSpawnOptions);
    const started = new Promise<number>((resolve, reject) => {
      child.once('spawn', () => resolve(child.pid!));
      child.once('error', reject);
    });
    const ended = new Promise<Ended>((resolve) => {
      child.once('exit', (code, signal) => {
        fs.closeSync(fd);
        resolve({ pid: child.pid, code, signal, output: fs.readFileSync(outputFile, 'utf8') });
      });
    });
    return { child, outputFile, started, ended };
  }

  it('starts the process with exactly its argv, environment and folder, in its own process group, output to the file', async () => {
    const cwd = fs.mkdtempSync(path.join(dir, 'job cwd '));
    const argv = ['/bin/sh', '-c', 'printf "%s|" "$@"; printf "%s|%s|" "$ODD" "$(pwd)"; read -r _ _ _ _ pgrp _ < /proc/$$/stat; printf "%s\\n" "$pgrp"; echo err >&2', 'sh', 'two words', "it's", 'line\nbreak', ''];
    const env = { PATH: process.env.PATH!, ODD: 'a=b\nc "d" $e' };
    const { child, started, ended } = start(argv, { cwd, env });
    assert.ok(!(child instanceof ChildProcess), 'the helper started it, not node');
    const pid = await started;
    const end = await ended;
    assert.deepEqual([end.code, end.signal], [0, null]);
    assert.equal(end.output, `two words|it's|line\nbreak||a=b\nc "d" $e|${cwd}|${pid}\nerr\n`);
  });

  it('reports exit codes and signals as node does, and signals reach the whole group', async () => {
    const three = start(['/bin/sh', '-c', 'exit 3']);
    const killed = start(['/bin/sh', '-c', 'kill -TERM $$; sleep 5']);
    const long = start(['/bin/sh', '-c', 'sleep 30 & echo $!; sleep 30; echo never']);
    assert.deepEqual(await three.ended.then((e) => [e.code, e.signal]), [3, null]);
    assert.deepEqual(await killed.ended.then((e) => [e.code, e.signal]), [null, 'SIGTERM']);
    const pid = await long.started;
    const background = await waitForOutput(long.outputFile);
    assert.equal(signalGroup(pid, 'SIGTERM'), true);
    const end = await long.ended;
    assert.deepEqual([end.code, end.signal], [null, 'SIGTERM']);
    assert.ok(await gone(background), 'the background sleep of the group was stopped too');
  });

  it('says why a process could not start, in the words of node spawn', async () => {
    const missing = start(['/no/such/program']);
    await assert.rejects(missing.started, (err: NodeJS.ErrnoException) => err.message === 'spawn /no/such/program ENOENT' && err.code === 'ENOENT');
    const badCwd = start(['/bin/true'], { cwd: path.join(dir, 'gone') });
    await assert.rejects(badCwd.started, /^Error: spawn \/bin\/true ENOENT$/);
    const notExecutable = path.join(dir, 'plain.txt');
    fs.writeFileSync(notExecutable, 'x', { mode: 0o600 });
    await assert.rejects(start([notExecutable]).started, /EACCES$/);
    // The helper carries on after failures.
    assert.deepEqual(await start(['/bin/true']).ended.then((e) => [e.code, e.signal]), [0, null]);
  });

  it('finds a bare command name on the job environment PATH', async () => {
    const bin = path.join(dir, 'bin');
    fs.mkdirSync(bin);
    fs.writeFileSync(path.join(bin, 'only-here'), '#!/bin/sh\necho found\n', { mode: 0o700 });
    const end = await start(['only-here'], { env: { PATH: `${bin}:/usr/bin:/bin` } }).ended;
    assert.deepEqual([end.code, end.output], [0, 'found\n']);
  });

  it('leaves to node what it does not do: output through pipes, another user', async () => {
    const piped = helper.spawn('/bin/echo', ['hi'], { stdio: ['ignore', 'pipe', 'pipe'] } as JobSpawnOptions);
    assert.ok(piped instanceof ChildProcess);
    await new Promise((r) => piped.once('exit', r));
    const asUser = helper.spawn('/bin/true', [], { stdio: ['ignore', 1, 1], outputFile: '/dev/null', uid: process.getuid!() } as JobSpawnOptions);
    assert.ok(asUser instanceof ChildProcess);
    await new Promise((r) => asUser.once('exit', r));
  });

  it('is off with EDGE_SPAWN_HELPER=off: node starts the jobs', async () => {
    process.env.EDGE_SPAWN_HELPER = 'off';
    try {
      helper = new SpawnHelper();
      await helper.prepare();
      const job = start(['/bin/true']);
      assert.ok(job.child instanceof ChildProcess);
      assert.deepEqual(await job.ended.then((e) => [e.code, e.signal]), [0, null]);
    } finally {
      delete process.env.EDGE_SPAWN_HELPER;
    }
    assert.equal(helper.pid, undefined, 'no helper was started');
  });

  it('kills the groups of its running jobs and ends them as killed when the helper dies; later jobs start through node', async () => {
    const long = start(['/bin/sh', '-c', 'sleep 30 & echo $!; sleep 30']);
    await long.started;
    const background = await waitForOutput(long.outputFile);
    process.kill(helper.pid!, 'SIGKILL');
    const end = await long.ended;
    assert.deepEqual([end.code, end.signal], [null, 'SIGKILL']);
    assert.ok(await gone(background), 'the whole group was killed');
    const later = start(['/bin/true']);
    assert.ok(later.child instanceof ChildProcess);
    assert.deepEqual(await later.ended.then((e) => [e.code, e.signal]), [0, null]);
  });
});
