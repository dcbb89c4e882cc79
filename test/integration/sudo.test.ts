/**
 * An unprivileged login user with sudo (issue 14, item 5), against the lab's real sshd and Debian's real
 * sudo: the user `medic-lab` logs in with the lab key, each command runs as `sudo -n -- <argv>` under a
 * sudoers drop-in that allows exactly the lab's tool paths (lab/sudo.ts). A rule without NOPASSWD, or a
 * path outside the rule, is SshError 'sudo' at once (never a prompt), Ssh:sudo non-retryable in the
 * activity layer, and sudo's own log shows one attempt.
 */
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { MockActivityEnvironment } from '@temporalio/testing';
import { ApplicationFailure } from '@temporalio/common';
import { createActivities } from '../../activities';
import { SshError, SshPool } from '../../activities/ssh';
import { loadConfig } from '../../config/load';
import type { Config } from '../../config/schema';
import { LabHandle, labUp, TOOL_PATH_KEYS } from '../../lab/lab';
import { LabSudo, labSudo } from '../../lab/sudo';

const CONTROL = 'vkt-control-01';
let lab: LabHandle;
let sudo: LabSudo | undefined;
let config: Config;
let allPaths: string[];

before(async () => {
  lab = await labUp({ scenario: 'kust-replfailed' });
  const root = loadConfig(lab.configPath);
  allPaths = Object.values(TOOL_PATH_KEYS).map((k) => (root.paths as unknown as Record<string, string>)[k]);
  sudo = labSudo(lab.dir, { paths: allPaths });
  config = {
    ...root,
    ssh: { ...root.ssh, journalDir: sudo.journalDir },
    inventory: { ...root.inventory, hosts: { ...root.inventory.hosts, [CONTROL]: { ...root.inventory.hosts[CONTROL], user: sudo.user, sudo: true } } },
  };
});
after(async () => {
  // The drop-in goes away even when a test failed (and before the lab's files it names).
  sudo?.remove();
  await lab?.down();
});

const ic = () => config.paths.ic;
const attempts = (argv: string[]) => (sudo as LabSudo).sudoLogLines().filter((l) => l.replace(/\s+/g, ' ').includes(`COMMAND=${argv.join(' ')}`));
let n = 0;
const newKey = (what: string) => `sudo-${process.pid}-${++n}-${what}`;

test('a read-only and a changing command run through sudo as the unprivileged login user', async () => {
  const pool = new SshPool(config);
  try {
    const r = await pool.exec(CONTROL, { argv: [ic(), 'map', 'cox'] });
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stdout, /srv cox\.vkt-4vm-879-standart-02\.cox-1 10\.32\.96\.0:2510 alive slave/);
    assert.equal(r.command, `'sudo' '-n' '--' '${ic()}' 'map' 'cox'`);
    assert.equal(r.stderr, '');

    const key = newKey('mkdir');
    const dir = '/data/medic-sudo-test';
    const c = await pool.exec(CONTROL, { argv: [config.paths.mkdir, '-p', dir] }, { journal: key });
    assert.equal(c.exitCode, 0, c.stderr);
    // The journal entry is the login user's (only the argv got sudo).
    const entry = path.join(config.ssh.journalDir, key);
    assert.equal(fs.readFileSync(path.join(entry, 'rc'), 'utf8').trim(), '0');
    assert.equal(fs.statSync(entry).uid, fs.statSync(config.ssh.journalDir).uid);
    assert.notEqual(fs.statSync(entry).uid, 0);

    // The lab ran both (LAB_NODE kept through sudo: the node is right), and sudo ran both as root for medic-lab.
    const log = lab.log();
    assert.deepEqual(
      log.map((e) => [e.node, e.tool, e.argv.join(' '), e.exitCode]),
      [
        [CONTROL, 'ic', 'map cox', 0],
        [CONTROL, 'mkdir', `-p ${dir}`, 0],
      ],
    );
    for (const argv of [[ic(), 'map', 'cox'], [config.paths.mkdir, '-p', dir]]) {
      const lines = attempts(argv);
      assert.equal(lines.length, 1, lines.join('\n'));
      assert.match(lines[0], /: medic-lab : .*USER=root/s);
      assert.doesNotMatch(lines[0], /password is required/);
    }
  } finally {
    pool.close();
  }
});

// The timeout: a kill that does not reach the command leaves the channel waiting for it; fail, do not hang.
test('a timed-out command under sudo is ended on the host (TERM through sudo to the root command)', { timeout: 60_000 }, async () => {
  lab.setState((s) => s.faults.push({ tool: 'ic', argsPrefix: ['map', 'badger'], hang: true }));
  const pool = new SshPool(config);
  try {
    for (const opts of [{}, { journal: newKey('hang') }]) {
      const before = lab.log().filter((e) => e.argv[1] === 'badger').length;
      const r = await pool.exec(CONTROL, { argv: [ic(), 'map', 'badger'] }, { ...opts, timeoutMs: 1500 });
      assert.equal(r.timedOut, true);
      // The tool (root, under sudo) ended while the connection stays open: the lab logs a tool when it ends.
      const deadline = Date.now() + 10_000;
      while (lab.log().filter((e) => e.argv[1] === 'badger').length <= before && Date.now() < deadline) await new Promise((res) => setTimeout(res, 100));
      assert.equal(lab.log().filter((e) => e.argv[1] === 'badger').length, before + 1, `the hanging tool was not ended (${JSON.stringify(opts)})`);
    }
  } finally {
    pool.close();
    lab.setState((s) => (s.faults = []));
  }
});

const refused = (path_: string) => (err: unknown) =>
  err instanceof SshError &&
  err.kind === 'sudo' &&
  err.message.includes(CONTROL) &&
  err.message.includes('for user medic-lab') &&
  err.message.includes(`NOPASSWD: ${path_}`) &&
  /a password is required/.test(err.message);

test('a rule without NOPASSWD is a sudo failure at once, not a prompt; not retried (one attempt in sudo\'s log)', async () => {
  const s = sudo as LabSudo;
  s.setRule({ paths: allPaths, nopasswd: false });
  const pool = new SshPool(config);
  try {
    const timeoutMs = 60_000;
    for (const [i, opts] of [{}, { journal: newKey('passwd') }].entries()) {
      const argv = [ic(), 'map', `owl${i}`];
      const t0 = Date.now();
      await assert.rejects(pool.exec(CONTROL, { argv }, { ...opts, timeoutMs }), refused(ic()));
      // Not a hang at a password prompt: the answer came long before the command's timeout.
      assert.ok(Date.now() - t0 < timeoutMs / 2, `${Date.now() - t0} ms`);
      assert.equal(attempts(argv).length, 1);
      assert.match(attempts(argv)[0], /a password is required/);
    }
    // The activity layer: Ssh:sudo, not retryable (Temporal would not try again).
    const env = new MockActivityEnvironment();
    const acts = createActivities({ ...config, notifications: {} as Config['notifications'], service: config.service }, pool);
    const argv = [ic(), 'map', 'owl9'];
    await assert.rejects(env.run(acts.runCommand, { host: CONTROL, argv }), (err: unknown) => err instanceof ApplicationFailure && err.type === 'Ssh:sudo' && err.nonRetryable === true);
    assert.equal(attempts(argv).length, 1);
    assert.deepEqual(lab.log().filter((e) => e.argv[1]?.startsWith('owl')), [], 'the tool never ran');
  } finally {
    pool.close();
    s.setRule({ paths: allPaths });
  }
});

test('a command path outside the sudoers rule is refused the same way', async () => {
  const s = sudo as LabSudo;
  s.setRule({ paths: allPaths.filter((p) => p !== config.paths.cat) });
  const pool = new SshPool(config);
  try {
    const argv = [config.paths.cat, '/etc/hostname'];
    await assert.rejects(pool.exec(CONTROL, { argv }), refused(config.paths.cat));
    assert.equal(attempts(argv).length, 1);
    // The rest of the rule still works on the same connection.
    assert.equal((await pool.exec(CONTROL, { argv: [ic(), 'map', 'cox'] })).exitCode, 0);
    assert.deepEqual(lab.log().filter((e) => e.tool === 'cat'), []);
  } finally {
    pool.close();
    s.setRule({ paths: allPaths });
  }
});
