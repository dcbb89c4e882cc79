/**
 * The host-side journal's shell text, run by a real local shell (as sshd runs it: `bash -c <line>`):
 * at most one start per key, the exit status and output kept, the input checked whole, and the probe's
 * answers for every state. The SSH path over real sshd is in test/integration/ssh-faults.test.ts.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { commandLine } from '../../activities/command-line';
import { isRunning } from '../../worker/proc';
import { ALREADY_STARTED, journalWrapper, killLine, parseProbe, plainWrapper, probeLine, splitPid } from '../../activities/journal';

const root = mkdtempSync(path.join(os.tmpdir(), 'medic-journal-'));
const dir = path.join(root, 'journal');
after(() => rmSync(root, { recursive: true, force: true }));

function sh(line: string, stdin = ''): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['-c', line], { input: stdin, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const script = (name: string, body: string) => {
  const file = path.join(root, name);
  writeFileSync(file, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
  return file;
};

test('a changing command runs once per key: its exit status and output are kept, a second start reads nothing new', () => {
  const counter = path.join(root, 'count');
  const tool = script('tool.sh', `echo run >> ${counter}; cat; echo "to stderr" >&2; exit 3`);
  const line = commandLine({ argv: [tool, 'arg'] });
  const first = sh(journalWrapper(line, dir, 'run-1.2', 6), 'hello\n');
  assert.equal(first.code, 3);
  assert.equal(first.stdout, 'hello\n');
  assert.equal(first.stderr, 'to stderr\n');
  const second = sh(journalWrapper(line, dir, 'run-1.2', 6), 'hello\n');
  assert.equal(second.code, ALREADY_STARTED);
  assert.match(second.stderr, /already started/);
  assert.equal(readFileSync(counter, 'utf8'), 'run\n', 'the tool ran exactly once');

  const probe = parseProbe(sh(probeLine(dir, 'run-1.2')).stdout);
  assert.equal(probe?.state, 'done');
  assert.equal(probe?.exitCode, 3);
  assert.equal(probe?.stdout, 'hello\n');
  assert.match(probe?.startedAt ?? '', /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(parseProbe(sh(probeLine(dir, 'never-started')).stdout)?.state, 'absent');
});

test('an input that did not arrive whole is refused before the command starts', () => {
  const marker = path.join(root, 'ran');
  const tool = script('marker.sh', `touch ${marker}`);
  const r = sh(journalWrapper(commandLine({ argv: [tool] }), dir, 'short-input', 100), 'only part');
  assert.equal(r.code, ALREADY_STARTED + 2);
  assert.equal(existsSync(marker), false);
  assert.equal(parseProbe(sh(probeLine(dir, 'short-input')).stdout)?.state, 'not-started');
});

test('the probe tells a running command from a vanished one, and the kill line ends the process group only when it is ours', async () => {
  const child = path.join(root, 'child.pid');
  const tool = script('slow.sh', `sleep 30 & echo $! > ${child}; wait`);
  const wrapper = spawn('bash', ['-c', journalWrapper(commandLine({ argv: [tool] }), dir, 'slow-1', 0)], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  wrapper.stdin.end();
  const deadline = Date.now() + 10_000;
  while (!existsSync(child) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  assert.equal(parseProbe(sh(probeLine(dir, 'slow-1')).stdout)?.state, 'running');
  // A kill line naming another key does nothing (the pid file's process is not that key's shell).
  const pid = Number(readFileSync(path.join(dir, 'slow-1', 'pid'), 'utf8'));
  sh(killLine(pid, 'slow-11'));
  assert.equal(parseProbe(sh(probeLine(dir, 'slow-1')).stdout)?.state, 'running', 'key slow-11 must not match slow-1');
  const exited = new Promise((r) => wrapper.once('exit', r));
  sh(killLine(undefined, 'slow-1', { dir, key: 'slow-1' }));
  await exited;
  const grandchild = Number(readFileSync(child, 'utf8'));
  assert.equal(isRunning(grandchild), false, 'the whole process group is gone');
  assert.equal(parseProbe(sh(probeLine(dir, 'slow-1')).stdout)?.state, 'killed');

  // A wrapper that vanished without an exit status and without our kill: lost.
  const w2 = spawn('bash', ['-c', journalWrapper(commandLine({ argv: [tool] }), dir, 'slow-2', 0)], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  w2.stdin.end();
  while (!existsSync(path.join(dir, 'slow-2', 'started'))) await new Promise((r) => setTimeout(r, 20));
  const gone = new Promise((r) => w2.once('exit', r));
  process.kill(-(w2.pid as number), 'SIGKILL');
  await gone;
  assert.equal(parseProbe(sh(probeLine(dir, 'slow-2')).stdout)?.state, 'lost');
});

test('a read-only command announces its pid first; the announcement is split off and the exit status kept', () => {
  const r = sh(plainWrapper(commandLine({ argv: ['sh', '-c', 'echo,out'] }).replace(`'sh' '-c' 'echo,out'`, 'echo out; echo err >&2; (exit 4)'), 'tag1'));
  assert.equal(r.code, 4);
  assert.equal(r.stdout, 'out\n');
  const split = splitPid(r.stderr, 'tag1');
  assert.ok(split?.pid && split.pid > 1);
  assert.equal(split?.rest, 'err\n');
});

test('keys and tags outside the allow-list are refused; a probe answer that is not one is not understood', () => {
  for (const bad of ['', '../x', 'a b', "a'b", 'x;rm', '-x']) {
    assert.throws(() => journalWrapper(`'true'`, dir, bad, 0), /invalid journal key/);
    assert.throws(() => probeLine(dir, bad), /invalid journal key/);
    assert.throws(() => plainWrapper(`'true'`, bad), /invalid journal tag/);
  }
  assert.equal(parseProbe('INFO: something else\n'), undefined);
  assert.equal(parseProbe('medic-journal:done::\n'), undefined, 'done needs an exit status');
  assert.deepEqual(parseProbe('medic-journal:running::2026-12-02T01:02:03Z\nxx'), { state: 'running', startedAt: '2026-12-02T01:02:03Z', stdout: 'xx' });
});

test('entries older than 14 days are swept at the first changing command of a day, not at every one', () => {
  const sweepDir = path.join(root, 'sweep');
  const old = path.join(sweepDir, 'old-run.1');
  const line = commandLine({ argv: ['true'] });
  assert.equal(sh(journalWrapper(line, sweepDir, 'first.1', 0, '2026-12-01')).code, 0);
  spawnSync('mkdir', ['-p', old]);
  spawnSync('touch', ['-d', '20 days ago', old]);
  // Same day: the sweep has run already; the old entry stays until the next day's first command.
  assert.equal(sh(journalWrapper(line, sweepDir, 'second.1', 0, '2026-12-01')).code, 0);
  assert.equal(existsSync(old), true);
  assert.equal(sh(journalWrapper(line, sweepDir, 'third.1', 0, '2026-12-02')).code, 0);
  assert.equal(existsSync(old), false, 'swept on the next day');
  for (const k of ['first.1', 'second.1', 'third.1']) assert.equal(parseProbe(sh(probeLine(sweepDir, k)).stdout)?.state, 'done', `${k} kept`);
  assert.deepEqual(readdirSync(sweepDir).filter((f) => f.startsWith('.swept-')), ['.swept-2026-12-02'], 'one stamp, of the last sweep');
  assert.throws(() => journalWrapper(line, sweepDir, 'x.1', 0, '2026-12-02; rm -rf /'), /invalid journal day/);
});

test('a command without input gets an empty input file; output and error come back as before', () => {
  const r = sh(journalWrapper(commandLine({ argv: ['sh', '-c', 'x'] }).replace(`'sh' '-c' 'x'`, 'sh -c "cat; echo out; echo err >&2; exit 5"'), dir, 'no-input.1', 0), 'ignored, not copied');
  assert.equal(r.code, 5);
  assert.equal(r.stdout, 'out\n');
  assert.equal(r.stderr, 'err\n');
  assert.equal(readFileSync(path.join(dir, 'no-input.1', 'in'), 'utf8'), '');
  assert.equal(readFileSync(path.join(dir, 'no-input.1', 'rc'), 'utf8'), '5\n');
});
