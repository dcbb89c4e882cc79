/**
 * Host keys from OpenSSH known_hosts files against real sshd (the lab, each node with ed25519, ECDSA
 * and RSA host keys): a host with no pinned key connects through a plain, a hashed, a wildcard or an
 * inventory-name entry, and through a file holding only its ECDSA or RSA key (the known types are
 * offered first); a wrong key, a revoked key, a missing key type and a CA-only entry are refused with
 * SshError kind 'host-key' and a message naming the file, the host and the fingerprints.
 * The parsing and matching rules themselves are in test/activities/host-keys.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fingerprint, publicKeyBlob } from '../../activities/host-keys';
import { SshError, SshPool } from '../../activities/ssh';
import { loadConfig } from '../../config/load';
import type { Config, HostConfig } from '../../config/schema';
import { LabHandle, labUp } from '../../lab/lab';

const HOST = 'vkt-control-01';
const OTHER = 'vkt-4vm-879-standart-01';

let lab: LabHandle;
let config: Config;
let tmp: string;
let addr: string;
/** "[127.0.0.x]:port" of HOST. */
let bracketed: string;

before(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-knownhosts-'));
  lab = await labUp({ scenario: 'healthy', extraHostKeyTypes: ['ecdsa', 'rsa'] });
  config = loadConfig(lab.configPath);
  addr = lab.nodes[HOST].address;
  bracketed = `[${addr}]:${lab.nodes[HOST].port}`;
});
after(async () => {
  await lab?.down();
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

/** A node's host public key ("type base64") of a type: ed25519, ecdsa, rsa. */
function hostPub(node: string, type: 'ed25519' | 'ecdsa' | 'rsa'): string {
  return fs.readFileSync(path.join(lab.dir, 'nodes', node, `host_${type}_key.pub`), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
}
const fp = (line: string): string => fingerprint(publicKeyBlob(line));

let fileNo = 0;
function knownHosts(lines: string[]): string {
  const f = path.join(tmp, `known_hosts.${++fileNo}`);
  fs.writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

/** The lab config with HOST taking its key from these files (no pinned key), or with `over` applied. */
function withFiles(files: string[], over: Partial<HostConfig> = {}): Config {
  const { hostKey: _pinned, ...rest } = config.inventory.hosts[HOST];
  const h: HostConfig = { ...rest, knownHostsFiles: files, ...over };
  return { ...config, inventory: { ...config.inventory, hosts: { ...config.inventory.hosts, [HOST]: h } } };
}

async function runs(cfg: Config): Promise<void> {
  const pool = new SshPool(cfg);
  try {
    const r = await pool.exec(HOST, { argv: ['echo', 'known'] });
    assert.equal(r.exitCode, 0);
    assert.equal(r.stdout.trim(), 'known');
  } finally {
    pool.close();
  }
}

async function refused(cfg: Config): Promise<string> {
  const pool = new SshPool(cfg);
  try {
    const err = await pool.exec(HOST, { argv: ['echo', 'known'] }).then(
      () => assert.fail('the connection was accepted'),
      (e: unknown) => e,
    );
    assert.ok(err instanceof SshError, String(err));
    assert.equal(err.kind, 'host-key', err.message);
    assert.ok(!err.message.includes('\n'), 'one line');
    return err.message;
  } finally {
    pool.close();
  }
}

test('a host with no pinned key connects through a plain [address]:port entry, a hashed one, a wildcard and its inventory name', async () => {
  const key = hostPub(HOST, 'ed25519');
  await runs(withFiles([knownHosts(['# the operator\'s file', '', `other,${OTHER} ${hostPub(OTHER, 'ed25519')}`, `${bracketed} ${key}`])]));

  const hashed = knownHosts([`${bracketed} ${key}`]);
  execFileSync('ssh-keygen', ['-H', '-f', hashed], { stdio: 'ignore' });
  fs.rmSync(`${hashed}.old`, { force: true });
  assert.doesNotMatch(fs.readFileSync(hashed, 'utf8'), new RegExp(addr.replace(/\./g, '\\.')));
  await runs(withFiles([hashed]));

  await runs(withFiles([knownHosts([`[127.0.0.*]:*,!${OTHER} ${key}`])]));
  await runs(withFiles([knownHosts([`[${HOST}]:${lab.nodes[HOST].port} ${key}`])]));
});

test('a file with only the host\'s ECDSA or only its RSA key is enough: the known type is what the server is asked for', async () => {
  await runs(withFiles([knownHosts([`${bracketed} ${hostPub(HOST, 'ecdsa')}`])]));
  await runs(withFiles([knownHosts([`${bracketed} ${hostPub(HOST, 'rsa')}`])]));
  await runs(withFiles([knownHosts([`${bracketed} ${hostPub(HOST, 'rsa')}`, `${bracketed} ${hostPub(HOST, 'ecdsa')}`])]));
});

test('a wrong key is refused, naming the file, the host and both fingerprints', async () => {
  const wrong = hostPub(OTHER, 'ed25519');
  const f = knownHosts([`${bracketed} ${wrong}`]);
  const msg = await refused(withFiles([f]));
  assert.ok(msg.startsWith(`host key of ${HOST} (${addr}:${lab.nodes[HOST].port}) does not match known_hosts`), msg);
  assert.ok(msg.includes(`offered ssh-ed25519 ${fp(hostPub(HOST, 'ed25519'))}`), msg);
  assert.ok(msg.includes(`expected ${fp(wrong)} (${f}:1)`), msg);
});

test('no entry for the host is refused: an entry without a port is for port 22 only', async () => {
  const f = knownHosts([`${addr},${HOST} ${hostPub(HOST, 'ed25519')}`]);
  const msg = await refused(withFiles([f]));
  assert.ok(msg.includes(`is unknown: no entry for ${bracketed} or [${HOST}]:${lab.nodes[HOST].port} in ${f}`), msg);
  assert.ok(msg.includes(fp(hostPub(HOST, 'ed25519'))), msg);
});

test('@revoked refuses the key over a plain entry and over the pinned key', async () => {
  const key = hostPub(HOST, 'ed25519');
  const f = knownHosts([`${bracketed} ${key}`, `@revoked * ${key}`]);
  for (const cfg of [withFiles([f]), withFiles([f], { hostKey: config.inventory.hosts[HOST].hostKey })]) {
    const msg = await refused(cfg);
    assert.ok(msg.includes(`is marked @revoked in ${f}:2`), msg);
    assert.ok(msg.includes(fp(key)), msg);
  }
  // The pinned key without the revocation still connects (the files do not override it otherwise).
  await runs(withFiles([knownHosts([`${bracketed} ${hostPub(OTHER, 'ed25519')}`])], { hostKey: config.inventory.hosts[HOST].hostKey }));
});

test('a key type the file lacks for the host is refused, with the offered key and the ones it has', async () => {
  // The lab's ECDSA host keys are nistp256; a nistp384 key is a type the server cannot show.
  const p384 = path.join(tmp, 'p384');
  execFileSync('ssh-keygen', ['-q', '-t', 'ecdsa', '-b', '384', '-N', '', '-f', p384]);
  const other = fs.readFileSync(`${p384}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  const f = knownHosts([`${bracketed} ${other}`]);
  const msg = await refused(withFiles([f]));
  assert.match(msg, /is ssh-ed25519 SHA256:\S+, but no ssh-ed25519 key for /);
  assert.ok(msg.includes(fp(hostPub(HOST, 'ed25519'))) && msg.includes(`ecdsa-sha2-nistp384 ${fp(other)} (${f}:1)`), msg);
});

test('a host known only through @cert-authority is refused: host certificates are not supported', async () => {
  const f = knownHosts([`@cert-authority [127.0.0.*]:* ${hostPub(OTHER, 'ed25519')}`]);
  const msg = await refused(withFiles([f]));
  assert.ok(msg.includes(`only by @cert-authority entries (${f}:1), and host certificates are not supported`), msg);
});
