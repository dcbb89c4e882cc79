/**
 * Authentication against the lab's real sshd (issue 14, item 3): a passphrase-protected key made by the
 * real ssh-keygen, its passphrase from a file or from the environment (never from the config), a real
 * ssh-agent; a missing or wrong passphrase, an unset agent, a passphrase file readable by others are
 * clear refusals naming the host and the key file, never the passphrase.
 */
import assert from 'node:assert/strict';
import { ChildProcess, execFileSync, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { after, before, test } from 'node:test';
import { checkKeyFiles, KeyFileError } from '../../activities/key-files';
import { SshError, SshPool } from '../../activities/ssh';
import { loadConfig } from '../../config/load';
import type { Config, HostConfig } from '../../config/schema';
import { LabHandle, labUp } from '../../lab/lab';

const CONTROL = 'vkt-control-01';
const PASS = 'correct horse battery 7';
let lab: LabHandle;
let config: Config;
let tmp: string;
let encKey: string;
let agentKey: string;
let agent: ChildProcess | undefined;
let agentSock: string;

function keygen(file: string, pass: string): void {
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', pass, '-C', 'medic-auth-test', '-f', file]);
  fs.appendFileSync(path.join(lab.dir, 'keys', 'authorized_keys'), fs.readFileSync(`${file}.pub`));
}

before(async () => {
  lab = await labUp({ scenario: 'kust-replfailed' });
  config = loadConfig(lab.configPath);
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-auth-'));
  encKey = path.join(tmp, 'enc_ed25519');
  agentKey = path.join(tmp, 'agent_ed25519');
  keygen(encKey, PASS);
  keygen(agentKey, '');
  // A real agent, in the foreground (-D) so that this test owns its pid; the key added with the real ssh-add.
  agentSock = path.join(tmp, 'agent.sock');
  agent = spawn('ssh-agent', ['-D', '-a', agentSock], { stdio: 'ignore' });
  const deadline = Date.now() + 10_000;
  while (!fs.existsSync(agentSock)) {
    if (Date.now() > deadline) throw new Error('ssh-agent did not create its socket');
    await new Promise((r) => setTimeout(r, 20));
  }
  execFileSync('ssh-add', [agentKey], { env: { ...process.env, SSH_AUTH_SOCK: agentSock }, stdio: 'ignore' });
});
after(async () => {
  agent?.kill('SIGTERM');
  await lab?.down();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** The config with CONTROL's auth replaced (host key etc. kept). */
function withAuth(auth: Partial<HostConfig>): Config {
  const { keyFile: _k, keyPassphraseFile: _f, keyPassphraseEnv: _e, agent: _a, ...rest } = config.inventory.hosts[CONTROL];
  return { ...config, inventory: { ...config.inventory, hosts: { ...config.inventory.hosts, [CONTROL]: { ...rest, ...auth } } } };
}

async function runs(c: Config, what: string): Promise<void> {
  const pool = new SshPool(c);
  try {
    const r = await pool.exec(CONTROL, { argv: [c.paths.ic, 'map', what] });
    assert.notEqual(r.exitCode, null);
  } finally {
    pool.close();
  }
  assert.equal(lab.log().filter((e) => e.argv[1] === what).length, 1, `${what} ran once on the host`);
}

async function refused(c: Config, re: RegExp): Promise<void> {
  const pool = new SshPool(c);
  try {
    await assert.rejects(pool.exec(CONTROL, { argv: [c.paths.ic, 'map', 'never'] }), (err: unknown) => {
      assert.ok(err instanceof SshError, String(err));
      assert.equal(err.kind, 'auth', err.message);
      assert.match(err.message, re);
      assert.ok(!err.message.includes(PASS), 'the passphrase is not in the message');
      return true;
    });
  } finally {
    pool.close();
  }
  assert.equal(lab.log().filter((e) => e.argv[1] === 'never').length, 0);
}

test('an encrypted key with its passphrase from a file (first line, line end stripped) or from the environment', async () => {
  const passFile = path.join(tmp, 'pass');
  fs.writeFileSync(passFile, `${PASS}\nsecond line ignored\n`, { mode: 0o600 });
  await runs(withAuth({ keyFile: encKey, keyPassphraseFile: passFile }), 'pass-file');
  process.env.MEDIC_TEST_KEY_PASS = PASS;
  try {
    await runs(withAuth({ keyFile: encKey, keyPassphraseEnv: 'MEDIC_TEST_KEY_PASS' }), 'pass-env');
  } finally {
    delete process.env.MEDIC_TEST_KEY_PASS;
  }
});

test('a missing or wrong passphrase is an auth error naming the host and the key file, not the passphrase', async () => {
  const file = encKey.replace(/[.]/g, '\\.');
  await refused(withAuth({ keyFile: encKey }), new RegExp(`^${CONTROL}: cannot use the SSH key ${file}: it is encrypted and no passphrase is configured`));
  const wrong = path.join(tmp, 'wrong-pass');
  fs.writeFileSync(wrong, `${PASS}x\n`, { mode: 0o600 });
  await refused(withAuth({ keyFile: encKey, keyPassphraseFile: wrong }), new RegExp(`^${CONTROL}: cannot use the SSH key ${file}: the passphrase file ${wrong.replace(/[.]/g, '\\.')} does not decrypt it`));
  await refused(withAuth({ keyFile: encKey, keyPassphraseEnv: 'MEDIC_TEST_UNSET_PASS' }), new RegExp(`^${CONTROL}: the environment variable MEDIC_TEST_UNSET_PASS \\(passphrase of the SSH key ${file}\\) is not set`));
  await refused(withAuth({ keyFile: encKey, keyPassphraseFile: path.join(tmp, 'no-such-file') }), /cannot read the passphrase file .*no-such-file.*ENOENT/);
});

test('an ssh-agent: its socket path, or SSH_AUTH_SOCK for agent: true; an unset or dead agent is a clear auth error', async () => {
  await runs(withAuth({ agent: agentSock }), 'agent-path');
  const saved = process.env.SSH_AUTH_SOCK;
  try {
    process.env.SSH_AUTH_SOCK = agentSock;
    await runs(withAuth({ agent: true }), 'agent-env');
    delete process.env.SSH_AUTH_SOCK;
    await refused(withAuth({ agent: true }), new RegExp(`^${CONTROL}: agent: true but SSH_AUTH_SOCK is not set`));
  } finally {
    if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
    else process.env.SSH_AUTH_SOCK = saved;
  }
  await refused(withAuth({ agent: path.join(tmp, 'gone.sock') }), /gone\.sock is not a socket \(is the ssh-agent running\?\)/);
  // An agent without the host's key: the host refuses it (auth, as for a refused key file).
  const other = path.join(tmp, 'other.sock');
  const empty = spawn('ssh-agent', ['-D', '-a', other], { stdio: 'ignore' });
  try {
    while (!fs.existsSync(other)) await new Promise((r) => setTimeout(r, 20));
    await refused(withAuth({ agent: other }), /refused the service's SSH key for user root/);
  } finally {
    empty.kill('SIGTERM');
  }
});

test('a passphrase file readable by group or others is refused at start, like the key', () => {
  const open = path.join(tmp, 'open-pass');
  fs.writeFileSync(open, `${PASS}\n`);
  fs.chmodSync(open, 0o644);
  const hosts = withAuth({ keyFile: encKey, keyPassphraseFile: open }).inventory.hosts;
  assert.throws(() => checkKeyFiles({ hosts }), (err: unknown) => err instanceof KeyFileError && err.message.includes(`host ${CONTROL}: passphrase file ${open} has mode 0644: UNPROTECTED`));
  fs.chmodSync(open, 0o600);
  assert.doesNotThrow(() => checkKeyFiles({ hosts }));
});
