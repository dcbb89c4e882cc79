/**
 * known_hosts parsing and matching (activities/host-keys.ts) on files made by the real ssh-keygen:
 * fingerprints as `ssh-keygen -l` prints them, lookups checked against `ssh-keygen -F` (plain,
 * wildcard, negated, hashed, [host]:port), and every accept and refusal of the host-key decision.
 * The same decision over real sshd is in test/integration/known-hosts.test.ts.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { entryMatches, fingerprint, hostKeyPolicy, knownHostsName, keyTypeOf, parseKnownHosts, publicKeyBlob, readKnownHostsFile } from '../../activities/host-keys';
import type { HostConfig } from '../../config/schema';

let tmp: string;
/** Public key lines ("type base64 comment") by name. */
const pub: Record<string, string> = {};
const blob = (k: string): Buffer => publicKeyBlob(pub[k]);
const keyPart = (k: string): string => pub[k].split(' ').slice(0, 2).join(' ');

before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'medic-hostkeys-'));
  for (const [name, type] of [
    ['ed', 'ed25519'],
    ['ed2', 'ed25519'],
    ['ec', 'ecdsa'],
    ['rsa', 'rsa'],
  ]) {
    const f = path.join(tmp, name);
    execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `key-${name}`, '-f', f]);
    pub[name] = fs.readFileSync(`${f}.pub`, 'utf8').trim();
  }
});
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

function write(name: string, lines: string[]): string {
  const f = path.join(tmp, name);
  fs.writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

/** The line numbers `ssh-keygen -F name -f file` finds (the oracle for lookups). */
function oracle(file: string, name: string): number[] {
  const r = spawnSync('ssh-keygen', ['-F', name, '-f', file], { encoding: 'utf8' });
  return [...r.stdout.matchAll(/^# Host .* found: line (\d+)/gm)].map((m) => Number(m[1]));
}
const ours = (file: string, name: string): number[] =>
  parseKnownHosts(fs.readFileSync(file, 'utf8'), file)
    .filter((e) => entryMatches(e, name))
    .map((e) => e.line);

const host = (over: Partial<HostConfig>): HostConfig => ({ address: '10.1.2.3', port: 22, user: 'root', knownHostsFiles: [], sudo: false, insecureAcceptAnyHostKey: false, ...over });

test('fingerprints are the ones ssh-keygen -l prints, and the key type is read from the blob', () => {
  for (const k of ['ed', 'ec', 'rsa']) {
    const printed = execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(tmp, `${k}.pub`)], { encoding: 'utf8' }).split(' ')[1];
    assert.equal(fingerprint(blob(k)), printed, k);
    assert.equal(keyTypeOf(blob(k)), pub[k].split(' ')[0]);
  }
  assert.equal(keyTypeOf(Buffer.from('nonsense')), '');
});

test('lookup names: port 22 is the bare host, another port is [host]:port, lower case', () => {
  assert.equal(knownHostsName('DB-01.Example.com', 22), 'db-01.example.com');
  assert.equal(knownHostsName('10.0.0.1', 2222), '[10.0.0.1]:2222');
});

test('plain entries: comments, blank lines, patterns, negation, wildcards and ports match as ssh-keygen -F finds them', () => {
  const f = write('plain', [
    '# a comment',
    '',
    `db-01,10.0.0.1 ${pub.ed}`,
    `   db-02 ${pub.ec}`,
    `*.prod.example.com,!bad.prod.example.com ${pub.rsa}`,
    `[10.0.0.1]:2222,[db-1?]:2222 ${pub.ec}`,
    `[10.0.0.*]:* ${pub.ed2}`,
    `@revoked db-01 ${pub.ed2}`,
    `@cert-authority *.example.com ${pub.ed2}`,
    'db-03 ssh-ed25519 !!notbase64!!',
    'db-04 2048 65537 12345678901234567890',
    `@unknown-marker db-01 ${pub.ed}`,
    `db-05 ssh-rsa ${pub.ed.split(' ')[1]}`,
  ]);
  const entries = parseKnownHosts(fs.readFileSync(f, 'utf8'), f);
  // Malformed keys, an SSH-1 key, an unknown marker and a type that does not match its blob are skipped.
  assert.deepEqual(
    entries.map((e) => [e.line, e.marker ?? '', e.keyType]),
    [
      [3, '', 'ssh-ed25519'],
      [4, '', 'ecdsa-sha2-nistp256'],
      [5, '', 'ssh-rsa'],
      [6, '', 'ecdsa-sha2-nistp256'],
      [7, '', 'ssh-ed25519'],
      [8, 'revoked', 'ssh-ed25519'],
      [9, 'cert-authority', 'ssh-ed25519'],
    ],
  );
  const names = ['db-01', 'DB-01', '10.0.0.1', 'db-02', 'db-03', 'x.prod.example.com', 'bad.prod.example.com', '[10.0.0.1]:2222', '[db-17]:2222', '[db-17]:22', '[10.0.0.9]:40', '10.0.0.9', 'prod.example.com', 'nothing'];
  for (const name of names) {
    // ssh-keygen -F matches names only: it lists the lines skipped above for their keys or marker too.
    const want = oracle(f, name).filter((line) => line < 10);
    assert.deepEqual(ours(f, name.toLowerCase()), want, name);
  }
  // An entry without a port is for port 22 only, and a [host]:port entry is for that port only.
  assert.deepEqual(ours(f, knownHostsName('db-02', 2222)), []);
  assert.deepEqual(ours(f, knownHostsName('db-02', 22)), [4]);
  // The negated pattern vetoes the entry whose wildcard would take it.
  assert.deepEqual(ours(f, 'bad.prod.example.com'), [9]);
});

test('hashed entries (ssh-keygen -H) match the names they were made from, [host]:port included', () => {
  const f = write('hashed', [`db-01,10.0.0.1 ${pub.ed}`, `[10.0.0.2]:2222 ${pub.ec}`, `db-09 ${pub.rsa}`]);
  execFileSync('ssh-keygen', ['-H', '-f', f], { stdio: 'ignore' });
  const text = fs.readFileSync(f, 'utf8');
  assert.doesNotMatch(text, /db-01|10\.0\.0/);
  const entries = parseKnownHosts(text, f);
  assert.equal(entries.length, 4); // one hashed line per name
  assert.ok(entries.every((e) => e.hashed && !e.patterns));
  for (const name of ['db-01', '10.0.0.1', '[10.0.0.2]:2222', '10.0.0.2', '[10.0.0.1]:2222', 'db-09', 'db-1']) {
    assert.deepEqual(ours(f, name), oracle(f, name), name);
  }
  assert.deepEqual(ours(f, '[10.0.0.2]:2222'), [3]);
  assert.deepEqual(ours(f, '10.0.0.2'), []);
});

test('known_hosts: the host\'s key is accepted under its address or its inventory name, from any of the files', () => {
  const a = write('a', [`other ${pub.ec}`]);
  const b = write('b', [`[10.1.2.3]:2222 ${pub.ed}`, `[db-01]:2222 ${pub.rsa}`]);
  const p = hostKeyPolicy('db-01', host({ port: 2222, knownHostsFiles: [a, b] }));
  assert.equal(p.check(blob('ed')), undefined);
  assert.equal(p.check(blob('rsa')), undefined);
  // The known types go first, in ssh2's order, then the other types (so an unknown one is refused with its fingerprint, not a failed handshake).
  assert.deepEqual(p.serverHostKey, ['ssh-ed25519', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521']);
  assert.deepEqual(hostKeyPolicy('db-01', host({ knownHostsFiles: [a] })).serverHostKey, undefined);
  assert.deepEqual(hostKeyPolicy('x', host({ hostKey: keyPart('ec') })).serverHostKey?.slice(0, 2), ['ecdsa-sha2-nistp256', 'ssh-ed25519']);
});

test('known_hosts refusals name the files, the host and both fingerprints', () => {
  const f = write('mismatch', [`[10.1.2.3]:2222 ${pub.ed}`, `[10.1.2.3]:2222 ${pub.rsa}`]);
  const p = hostKeyPolicy('db-01', host({ port: 2222, knownHostsFiles: [f] }));
  const mismatch = p.check(blob('ed2')) ?? '';
  assert.match(mismatch, /^host key of db-01 \(10\.1\.2\.3:2222\) does not match known_hosts/);
  assert.ok(mismatch.includes(`offered ssh-ed25519 ${fingerprint(blob('ed2'))}`), mismatch);
  assert.ok(mismatch.includes(`expected ${fingerprint(blob('ed'))} (${f}:1)`), mismatch);
  assert.ok(!mismatch.includes(fingerprint(blob('rsa'))), 'only the keys of the offered type are "expected"');
  assert.ok(!mismatch.includes('\n'));

  const missingType = p.check(blob('ec')) ?? '';
  assert.match(missingType, /no ecdsa-sha2-nistp256 key for \[10\.1\.2\.3\]:2222 or \[db-01\]:2222 is in /);
  for (const k of ['ec', 'ed', 'rsa']) assert.ok(missingType.includes(fingerprint(blob(k))), `${k}: ${missingType}`);
  assert.ok(missingType.includes(f));

  // Port 22 entries are not for port 2222.
  const other = write('port22', [`10.1.2.3 ${pub.ed}`]);
  const unknown = hostKeyPolicy('db-01', host({ port: 2222, knownHostsFiles: [other, path.join(tmp, 'absent')] })).check(blob('ed')) ?? '';
  assert.match(unknown, /^host key of db-01 \(10\.1\.2\.3:2222\) is unknown: no entry for \[10\.1\.2\.3\]:2222 or \[db-01\]:2222 in /);
  assert.ok(unknown.includes(fingerprint(blob('ed'))) && unknown.includes(other));
  assert.match(unknown, /cannot read .*absent: ENOENT/);
  assert.equal(hostKeyPolicy('db-01', host({ knownHostsFiles: [other] })).check(blob('ed')), undefined);
});

test('@revoked refuses the key always: over a plain entry, over the pinned key, with insecureAcceptAnyHostKey', () => {
  const f = write('revoked', [`db-01 ${pub.ed}`, `@revoked db-0* ${pub.ed}`, `db-01 ${pub.ec}`]);
  for (const over of [{}, { hostKey: keyPart('ed') }, { insecureAcceptAnyHostKey: true }]) {
    const r = hostKeyPolicy('db-01', host({ knownHostsFiles: [f], ...over })).check(blob('ed')) ?? '';
    assert.match(r, /^host key of db-01 \(10\.1\.2\.3:22\), ssh-ed25519 SHA256:\S+, is marked @revoked in .*revoked:2: refusing to connect$/, JSON.stringify(over));
    assert.ok(r.includes(fingerprint(blob('ed'))));
  }
  assert.equal(hostKeyPolicy('db-01', host({ knownHostsFiles: [f] })).check(blob('ec')), undefined);
  // A @revoked line for other hosts does not concern this one.
  assert.equal(hostKeyPolicy('db-01', host({ address: 'db-01', knownHostsFiles: [write('revoked-other', [`db-01 ${pub.ed}`, `@revoked web-* ${pub.ed}`])] })).check(blob('ed')), undefined);
});

test('the pinned key wins: only it is accepted, whatever the files say', () => {
  const f = write('pinned', [`db-01 ${pub.ed}`]);
  const p = hostKeyPolicy('db-01', host({ hostKey: keyPart('ec'), knownHostsFiles: [f] }));
  assert.equal(p.check(blob('ec')), undefined);
  const r = p.check(blob('ed')) ?? '';
  assert.match(r, /does not match the pinned key: refusing to connect \(offered ssh-ed25519 SHA256:\S+, pinned ecdsa-sha2-nistp256 SHA256:\S+\)$/);
  assert.ok(r.includes(fingerprint(blob('ed'))) && r.includes(fingerprint(blob('ec'))));
  assert.equal(hostKeyPolicy('db-01', host({ insecureAcceptAnyHostKey: true })).check(blob('rsa')), undefined);
  assert.match(hostKeyPolicy('db-01', host({})).check(blob('rsa')) ?? '', /no pinned hostKey and no knownHostsFiles/);
});

test('@cert-authority never accepts a key; a host known only through one is refused saying certificates are not supported', () => {
  const f = write('ca', [`@cert-authority *.example.com ${pub.ed}`]);
  const p = hostKeyPolicy('db-01.example.com', host({ knownHostsFiles: [f] }));
  const r = p.check(blob('ed')) ?? '';
  assert.match(r, /only by @cert-authority entries \(.*ca:1\), and host certificates are not supported/);
  assert.ok(r.includes(fingerprint(blob('ed'))));
  assert.equal(p.serverHostKey, undefined);
  // With a plain entry beside it, the plain entry decides.
  const g = write('ca-plain', [`@cert-authority *.example.com ${pub.ed}`, `db-01.example.com ${pub.ec}`]);
  assert.equal(hostKeyPolicy('db-01.example.com', host({ knownHostsFiles: [g] })).check(blob('ec')), undefined);
  assert.match(hostKeyPolicy('db-01.example.com', host({ knownHostsFiles: [g] })).check(blob('ed')) ?? '', /no ssh-ed25519 key for 10\.1\.2\.3 or db-01\.example\.com is in /);
});

test('a known_hosts file is read again when it changes', () => {
  const f = write('edited', [`db-01 ${pub.ed}`]);
  assert.equal(readKnownHostsFile(f).length, 1);
  assert.equal(readKnownHostsFile(f), readKnownHostsFile(f), 'unchanged: the cached entries');
  fs.appendFileSync(f, `db-01 ${pub.ec}\n`);
  assert.equal(readKnownHostsFile(f).length, 2);
  assert.equal(hostKeyPolicy('db-01', host({ knownHostsFiles: [f] })).check(blob('ec')), undefined);
});
